"""Shifted-window attention of GLF-CR: window layout and masks, and the optical-SAR fused attention.

Follows the authors' Swin-style ``WindowAttention`` (names kept so checkpoints load unchanged), with the
windows processed in cache-sized chunks.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

GROWTH = 48  # G: width of each dense layer and of its window attention
HEADS = 8
WINDOW = 8


# windows per attention step: 4 x 8 heads x 64 x 64 float32 logits = 512 KiB, inside a core's L2
# (bench/network_throughput.py: 1.4x faster attention than all windows at once on the 2-core CPU)
ATTENTION_CHUNK = 4


def relative_position_index(window: int) -> torch.Tensor:
    """Index into the relative position bias table for every pair of positions in a window.

    Returns:
        (window*window, window*window) int64.
    """
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    flat = coords.flatten(1)
    relative = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    relative[:, :, 0] += window - 1
    relative[:, :, 1] += window - 1
    relative[:, :, 0] *= 2 * window - 1
    return relative.sum(-1)


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * H/window * W/window, window, window, C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c)


def window_reverse(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B * nW, window, window, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    b = windows.shape[0] // ((height // window) * (width // window))
    x = windows.view(b, height // window, width // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, height, width, c)


def window_layout(height: int, width: int) -> tuple[int, int]:
    """Window side and shift of the shifted layers for half-resolution features of this size.

    The authors' rule: when the features are no larger than one window, the window shrinks to
    them and there is no shift. Tile sides are multiples of 16, so feature sides are multiples of
    8 and the window itself always stays 8; only the shift drops (for 16-pixel tiles).
    """
    if min(height, width) <= WINDOW:
        return min(height, width), 0
    return WINDOW, WINDOW // 2


@functools.lru_cache(maxsize=32)
def _shifted_window_mask_cpu(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    image = torch.zeros((1, height, width, 1))
    region = 0
    for rows in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for cols in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            image[:, rows, cols, :] = region
            region += 1
    windows = window_partition(image, window).view(-1, window * window)
    mask = windows.unsqueeze(1) - windows.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def shifted_window_mask(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    """Attention mask of the shifted windows: 0 within a region, -100 across regions.

    Args:
        height, width: half-resolution feature size (multiples of ``window``).

    Returns:
        (nW, window*window, window*window) float32 on the CPU, cached per size.
    """
    return _shifted_window_mask_cpu(height, width, window, shift)


class Mlp(nn.Module):
    """Two linear layers with exact GELU between them."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    """Window self-attention of the optical and SAR streams, fused at the attention logits.

    Both streams share the relative position bias; the SAR logits pull the optical ones through a
    learned gate (a 1x1 convolution over heads) before the softmax.
    """

    def __init__(self, dim: int = GROWTH, window: int = WINDOW, heads: int = HEADS) -> None:
        super().__init__()
        self.dim = dim
        self.window = window
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.qkv_SAR = nn.Linear(dim, dim * 3)
        self.attn_fuse_1x1conv = nn.Conv2d(heads, heads, kernel_size=1)
        self.proj = nn.Linear(dim, dim)
        self.proj_SAR = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self._additive_cache: dict[tuple[int | None, int], torch.Tensor] = {}

    def _position_bias(self) -> torch.Tensor:
        """(1, heads, N, N) bias shared by both streams."""
        tokens = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(tokens, tokens, -1).permute(2, 0, 1).unsqueeze(0)

    def _additive_logits(self, mask: torch.Tensor | None) -> torch.Tensor:
        """Position bias plus shifted-window mask: (nW or 1, heads, N, N).

        Without autograd it is cached per mask (one per tile size) until the bias table changes.
        """
        if torch.is_grad_enabled():
            bias = self._position_bias()
            return bias if mask is None else bias + mask.unsqueeze(1)
        table = self.relative_position_bias_table
        # the device and dtype are part of the key: a model moved to another device keeps its cache
        key = (None if mask is None else id(mask), table._version, table.device, table.dtype)
        cached = self._additive_cache.get(key)
        if cached is None:
            bias = self._position_bias()
            cached = bias if mask is None else bias + mask.unsqueeze(1)
            # one entry per mask: a size seen once stays cached, a changed table replaces it
            self._additive_cache = {k: v for k, v in self._additive_cache.items() if k[1] == key[1]}
            self._additive_cache[key] = cached
        return cached

    def _split_heads(self, x: torch.Tensor, qkv: nn.Linear) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        windows, tokens, channels = x.shape
        # one copy into (3, windows, heads, N, d) here spares a copy per chunk in the matrix products
        q, k, v = qkv(x).view(windows, tokens, 3, self.heads, channels // self.heads).permute(2, 0, 3, 1, 4).contiguous()
        return q * self.scale, k, v

    def forward(
        self, x: torch.Tensor, x_sar: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend within windows.

        Args:
            x, x_sar: (B*nW, N, dim) window tokens of the optical and SAR streams.
            mask: (nW, N, N) additive shifted-window mask, or None.

        Returns:
            Optical and SAR outputs, each (B*nW, N, dim).
        """
        windows, tokens, channels = x.shape
        q, k, v = self._split_heads(x, self.qkv)
        q_sar, k_sar, v_sar = self._split_heads(x_sar, self.qkv_SAR)
        additive = self._additive_logits(mask)
        n_masks = additive.shape[0]
        # A few windows at a time: the (windows, heads, N, N) logits then stay in the CPU's cache
        # through the dozen elementwise passes below, which dominate attention on the CPU.
        chunk = _largest_divisor_at_most(n_masks, ATTENTION_CHUNK) if n_masks > 1 else ATTENTION_CHUNK
        fuse_weight = self.attn_fuse_1x1conv.weight.view(self.heads, self.heads)
        fuse_bias = self.attn_fuse_1x1conv.bias.view(1, self.heads, 1)
        # in place (preallocated outputs, out= products) only in plain inference: under autocast the
        # products come out in bfloat16/float16 while the buffers would not (seen on an H200)
        in_place = not torch.is_grad_enabled() and not torch.is_autocast_enabled(x.device.type)
        out, out_sar = (torch.empty_like(v), torch.empty_like(v_sar)) if in_place else ([], [])
        for start in range(0, windows, chunk):
            part = slice(start, start + chunk)
            n = min(chunk, windows - start)
            add = additive if n_masks == 1 else additive[start % n_masks : start % n_masks + n]
            logits = q[part] @ k[part].transpose(-2, -1)
            logits_sar = q_sar[part] @ k_sar[part].transpose(-2, -1)
            logits = logits.add_(add) if in_place else logits + add
            logits_sar = logits_sar.add_(add) if in_place else logits_sar + add
            difference = logits_sar - logits
            # the authors' 1x1 convolution over heads, as one small matrix product per window
            gate = torch.baddbmm(
                fuse_bias.expand(n, -1, -1), fuse_weight.expand(n, -1, -1), difference.view(n, self.heads, -1)
            ).view_as(difference)
            if in_place:
                logits.addcmul_(difference, gate.sigmoid_())
            else:
                logits = logits + difference * gate.sigmoid()
            if in_place:
                torch.matmul(logits.softmax(dim=-1), v[part], out=out[part])
                torch.matmul(logits_sar.softmax(dim=-1), v_sar[part], out=out_sar[part])
            else:
                out.append(logits.softmax(dim=-1) @ v[part])
                out_sar.append(logits_sar.softmax(dim=-1) @ v_sar[part])
        if not in_place:
            out, out_sar = torch.cat(out), torch.cat(out_sar)
        out = out.transpose(1, 2).reshape(windows, tokens, channels)
        out_sar = out_sar.transpose(1, 2).reshape(windows, tokens, channels)
        return self.proj(out), self.proj_SAR(out_sar)


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, min(n, limit) + 1) if n % d == 0)
