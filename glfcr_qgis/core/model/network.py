"""The GLF-CR network (Xu et al., "GLF-CR: SAR-enhanced cloud removal with global-local fusion",
ISPRS J. Photogramm. Remote Sens. 192, 2022), computing what the authors' ``RDN_residual_CR`` computes.

Module and parameter names follow the authors' code so their checkpoints load unchanged. Unlike
theirs, one instance runs at any tile size whose sides are multiples of 16: the shifted-window
attention masks are derived from the size of each input (and cached per size) instead of being
fixed when the network is built. ``state_dict()`` still carries the masks of 128 x 128 tiles that
the authors' checkpoints hold, so files written from it load into their code.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812 (PyTorch's own spelling)
from torch import nn

from ..errors import TileSizeError
from .attention import (
    GROWTH,
    Mlp,
    WindowAttention,
    shifted_window_mask,
    window_layout,
    window_partition,
    window_reverse,
)
from .dynamic_filter import generate_and_apply_filters, kernel_conv2d

OPTICAL_BANDS = 13
SAR_BANDS = 2
FEATURES = 96  # G0
BLOCKS = 6  # D: residual dense blocks
LAYERS = 5  # C: dense layers per block
MLP_RATIO = 2.0
DYNAMIC_KERNEL = 5
SIZE_MULTIPLE = 16  # pixel-unshuffle by 2, then whole 8 x 8 windows
CHECKPOINT_TILE = 128  # tile size the authors' checkpoints store attention masks for
# stages of one forward pass reported to ``on_stage``: shallow features, then each block's residual
# dense block and its SAR fusion, then global fusion and reconstruction
FORWARD_STAGES = 2 * BLOCKS + 2

# called as on_stage(stages_done, FORWARD_STAGES) after each stage; it may raise to stop the pass
StageCallback = Callable[[int, int], None]


def pixel_reshuffle(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The authors' ``pixel_reshuffle``: the same arrangement as ``F.pixel_unshuffle``."""
    return F.pixel_unshuffle(x, factor)


class RDBConv(nn.Module):
    """One dense layer: 3x3 conv + ReLU, then (shifted) window attention and MLP on its output.

    The authors' ``RDB_Conv``; its output is its input with ``growth`` new channels appended.
    """

    def __init__(self, in_channels: int, growth: int = GROWTH, shifted: bool = False) -> None:
        super().__init__()
        self.shifted = shifted
        self.conv = nn.Sequential(nn.Conv2d(in_channels, growth, 3, padding=1), nn.ReLU())
        self.conv_SAR = nn.Sequential(nn.Conv2d(in_channels, growth, 3, padding=1), nn.ReLU())
        self.attn = WindowAttention(growth)
        hidden = int(growth * MLP_RATIO)
        self.norm2 = nn.LayerNorm(growth)
        self.norm2_SAR = nn.LayerNorm(growth)
        self.mlp = Mlp(growth, hidden)
        self.mlp_SAR = Mlp(growth, hidden)

    def _attend(
        self, x: torch.Tensor, x_sar: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        b, channels, h, w = x.shape
        window, shift = window_layout(h, w)
        if not self.shifted:
            shift = 0
        # (B, C, H, W) -> (B, H, W, C) tokens
        tokens = x.permute(0, 2, 3, 1)
        tokens_sar = x_sar.permute(0, 2, 3, 1)
        if shift:
            tokens = torch.roll(tokens, shifts=(-shift, -shift), dims=(1, 2))
            tokens_sar = torch.roll(tokens_sar, shifts=(-shift, -shift), dims=(1, 2))
        else:
            mask = None
        out, out_sar = self.attn(
            window_partition(tokens, window).view(-1, window * window, channels),
            window_partition(tokens_sar, window).view(-1, window * window, channels),
            mask,
        )
        out = window_reverse(out.view(-1, window, window, channels), window, h, w)
        out_sar = window_reverse(out_sar.view(-1, window, window, channels), window, h, w)
        if shift:
            out = torch.roll(out, shifts=(shift, shift), dims=(1, 2))
            out_sar = torch.roll(out_sar, shifts=(shift, shift), dims=(1, 2))
        return out, out_sar

    def grow(
        self, x: torch.Tensor, x_sar: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer's new channels.

        Args:
            x, x_sar: (B, Cin, H, W) dense features of both streams.
            mask: shifted-window mask for this size (used if the layer is shifted).

        Returns:
            Both streams' new features, (B, growth, H, W) each (channels-last views).
        """
        conv = self.conv(x)
        conv_sar = self.conv_SAR(x_sar)
        attended, attended_sar = self._attend(conv, conv_sar, mask)
        # residual and MLP in (B, H, W, C) layout, which is what LayerNorm and Linear want
        y = conv.permute(0, 2, 3, 1) + attended
        y = y + self.mlp(self.norm2(y))
        y_sar = conv_sar.permute(0, 2, 3, 1) + attended_sar
        y_sar = y_sar + self.mlp_SAR(self.norm2_SAR(y_sar))
        return y.permute(0, 3, 1, 2), y_sar.permute(0, 3, 1, 2)

    def forward(
        self, x: torch.Tensor, x_sar: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The authors' dense layer: both streams as (B, Cin + growth, H, W)."""
        y, y_sar = self.grow(x, x_sar, mask)
        return torch.cat((x, y), 1), torch.cat((x_sar, y_sar), 1)


class RDB(nn.Module):
    """Residual dense block: five dense layers (every second one shifted), then 3x3 local fusion."""

    def __init__(self, features: int = FEATURES, growth: int = GROWTH, layers: int = LAYERS) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            RDBConv(features + index * growth, growth, shifted=index % 2 == 1) for index in range(layers)
        )
        self.LFF = nn.Conv2d(features + layers * growth, features, 3, padding=1)
        self.LFF_SAR = nn.Conv2d(features + layers * growth, features, 3, padding=1)

    def forward(
        self, x: torch.Tensor, x_sar: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled():
            dense, dense_sar = x, x_sar
            for layer in self.convs:
                dense, dense_sar = layer(dense, dense_sar, mask)
        else:
            # Without autograd, every layer writes its channels into one buffer instead of
            # concatenating ever longer copies (in-place writes would break the backward pass).
            batch, channels, height, width = x.shape
            total = channels + sum(layer.conv[0].out_channels for layer in self.convs)
            dense = x.new_empty(batch, total, height, width)
            dense_sar = x_sar.new_empty(batch, total, height, width)
            dense[:, :channels] = x
            dense_sar[:, :channels] = x_sar
            for layer in self.convs:
                y, y_sar = layer.grow(dense[:, :channels], dense_sar[:, :channels], mask)
                grown = channels + y.shape[1]
                dense[:, channels:grown] = y
                dense_sar[:, channels:grown] = y_sar
                channels = grown
        return self.LFF(dense) + x, self.LFF_SAR(dense_sar) + x_sar


class ConvLeaky(nn.Sequential):
    """The authors' ``df_conv``: convolution then LeakyReLU(0.1)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2),
            # in place: the last one runs over K*K*96 channels, the largest tensor of the network
            nn.LeakyReLU(0.1, inplace=True),
        )


class ResBlock(nn.Module):
    """The authors' ``df_resnet_block``: x + conv(leaky(conv(x)))."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stem(x) + x


class DFG(nn.Module):
    """Dynamic filter generator: per-pixel K x K filters for every SAR channel from both streams."""

    def __init__(self, channels: int = 2 * FEATURES, kernel_size: int = DYNAMIC_KERNEL) -> None:
        super().__init__()
        half = channels // 2
        self.fac_warp = nn.Sequential(
            ConvLeaky(channels, half, 3),
            ResBlock(half),
            ResBlock(half),
            ConvLeaky(half, half * kernel_size**2, 1),
        )

    def forward(self, optical: torch.Tensor, sar: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) twice -> (B, C*K*K, H, W) filters."""
        return self.fac_warp(torch.cat([optical, sar], 1))


class GLFCR(nn.Module):
    """GLF-CR: SAR-enhanced cloud removal with global-local fusion (Xu et al., ISPRS J. 192, 2022).

    The authors' ``RDN_residual_CR``, with parameter names kept, for any tile size that is a
    multiple of 16 on both sides.
    """

    def __init__(self) -> None:
        super().__init__()
        self.SFENet1 = nn.Conv2d(OPTICAL_BANDS * 4, FEATURES, 5, padding=2)
        self.SFENet2 = nn.Conv2d(FEATURES, FEATURES, 3, padding=1)
        self.SFENet1_SAR = nn.Conv2d(SAR_BANDS * 4, FEATURES, 5, padding=2)
        self.SFENet2_SAR = nn.Conv2d(FEATURES, FEATURES, 3, padding=1)
        self.RDBs = nn.ModuleList(RDB() for _ in range(BLOCKS))
        self.DF = nn.ModuleList(DFG() for _ in range(BLOCKS))
        self.sar_fuse_1x1conv = nn.ModuleList(nn.Conv2d(FEATURES, FEATURES, 1) for _ in range(BLOCKS))
        self.opt_distribute_1x1conv = nn.ModuleList(nn.Conv2d(FEATURES, FEATURES, 1) for _ in range(BLOCKS))
        self.GFF = nn.Sequential(
            nn.Conv2d(BLOCKS * FEATURES, FEATURES, 1),
            nn.Conv2d(FEATURES, FEATURES, 3, padding=1),
        )
        self.UPNet = nn.Sequential(
            nn.Conv2d(FEATURES, 256, 3, padding=1),
            nn.PixelShuffle(2),
            nn.Conv2d(64, OPTICAL_BANDS, 3, padding=1),
        )
        self._masks: dict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}
        self.register_state_dict_post_hook(_add_checkpoint_masks)
        self.register_load_state_dict_pre_hook(_drop_checkpoint_masks)

    def attention_mask(self, height: int, width: int, like: torch.Tensor) -> torch.Tensor | None:
        """Shifted-window mask for half-resolution features of this size, cached per size and device."""
        window, shift = window_layout(height, width)
        if not shift:
            return None
        key = (height, width, like.device, like.dtype)
        mask = self._masks.get(key)
        if mask is None:
            mask = shifted_window_mask(height, width, window, shift).to(device=like.device, dtype=like.dtype)
            self._masks[key] = mask
        return mask

    def fuse(self, optical: torch.Tensor, sar: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Local fusion after block ``index``: dynamic filtering of SAR, then gated exchange both ways."""
        generator = self.DF[index]
        if sar.device.type == "cpu" and not torch.is_grad_enabled():
            # the 2400-channel filters are made and used a few channels at a time (same values)
            last = generator.fac_warp[-1]
            sar_filtered = generate_and_apply_filters(
                sar, generator.fac_warp[:-1](torch.cat([optical, sar], 1)), last[0].weight, last[0].bias,
                DYNAMIC_KERNEL, last[1].negative_slope,
            )
        else:
            sar_filtered = kernel_conv2d(sar, generator(optical, sar), DYNAMIC_KERNEL)
        difference = sar_filtered - optical
        new_optical = optical + difference * torch.sigmoid(self.sar_fuse_1x1conv[index](difference))
        difference = new_optical - sar_filtered
        new_sar = sar + difference * torch.sigmoid(self.opt_distribute_1x1conv[index](difference))
        return new_optical, new_sar

    def forward(
        self, cloudy: torch.Tensor, sar: torch.Tensor, *, on_stage: StageCallback | None = None
    ) -> torch.Tensor:
        """Remove clouds from one batch of tiles.

        Args:
            cloudy: (B, 13, H, W) Sentinel-2 L1C reflectance, DN / 10000 clipped to [0, 1].
            sar: (B, 2, H, W) Sentinel-1 VV, VH rescaled to [0, 1] (see ``core.normalization``).
            on_stage: called as ``on_stage(done, FORWARD_STAGES)`` after each of the
                ``FORWARD_STAGES`` stages (each residual dense block and each SAR fusion among them),
                so a caller can report progress and stop within a fraction of a tile by raising.

        Returns:
            (B, 13, H, W) predicted cloud-free reflectance (unclipped).
        """
        check_tile_shape(cloudy, sar)
        report = on_stage or _ignore_stage
        shallow = self.SFENet1(pixel_reshuffle(cloudy, 2))
        x = self.SFENet2(shallow)
        x_sar = self.SFENet2_SAR(self.SFENet1_SAR(pixel_reshuffle(sar, 2)))
        mask = self.attention_mask(x.shape[2], x.shape[3], x)
        report(1, FORWARD_STAGES)
        block_outputs = []
        for index, block in enumerate(self.RDBs):
            x, x_sar = block(x, x_sar, mask)
            report(2 + 2 * index, FORWARD_STAGES)
            x, x_sar = self.fuse(x, x_sar, index)
            report(3 + 2 * index, FORWARD_STAGES)
            block_outputs.append(x)
        x = self.GFF(torch.cat(block_outputs, 1)) + shallow
        output = self.UPNet(x) + cloudy
        report(FORWARD_STAGES, FORWARD_STAGES)
        return output


def _ignore_stage(done: int, total: int) -> None:
    """The ``on_stage`` of a forward pass nobody follows."""


def check_tile_shape(cloudy: torch.Tensor, sar: torch.Tensor) -> None:
    """Raise a clear error unless the inputs are (B, 13, H, W) and (B, 2, H, W) with H, W multiples of 16."""
    if cloudy.dim() != 4 or cloudy.shape[1] != OPTICAL_BANDS:
        raise ValueError(f"cloudy must be (B, 13, H, W), got {tuple(cloudy.shape)}")
    if sar.dim() != 4 or sar.shape[1] != SAR_BANDS or sar.shape[0] != cloudy.shape[0] or sar.shape[2:] != cloudy.shape[2:]:  # noqa: E501
        raise ValueError(
            f"sar must be (B, 2, H, W) matching cloudy {tuple(cloudy.shape)}, got {tuple(sar.shape)}"
        )
    height, width = cloudy.shape[2:]
    if height % SIZE_MULTIPLE or width % SIZE_MULTIPLE or height == 0 or width == 0:
        suggestion = max(SIZE_MULTIPLE, round(height / SIZE_MULTIPLE) * SIZE_MULTIPLE)
        raise TileSizeError(
            f"GLF-CR needs tile sides that are multiples of {SIZE_MULTIPLE}, got {height} x {width}: "
            f"pad or crop the tile (e.g. to {suggestion})."
        )


def _checkpoint_mask_names(model: GLFCR) -> list[str]:
    return [
        f"RDBs.{block}.convs.{layer}.attn_mask"
        for block in range(len(model.RDBs))
        for layer, module in enumerate(model.RDBs[block].convs)
        if module.shifted
    ]


def _add_checkpoint_masks(model: nn.Module, state_dict: dict, prefix: str, local_metadata: dict) -> None:
    # The authors' network stores the masks of its build size as persistent buffers, and their
    # load_state_dict(strict=True) insists on them: write those of 128 x 128 tiles, each first among
    # its layer's entries as their module order puts it.
    assert isinstance(model, GLFCR)
    side = CHECKPOINT_TILE // 2
    window, shift = window_layout(side, side)
    mask = shifted_window_mask(side, side, window, shift)
    names = _checkpoint_mask_names(model)
    layer_prefixes = {prefix + name[: -len("attn_mask")]: prefix + name for name in names}
    items = list(state_dict.items())
    state_dict.clear()
    for key, value in items:
        for layer_prefix, mask_name in layer_prefixes.items():
            if key.startswith(layer_prefix) and mask_name not in state_dict:
                state_dict[mask_name] = mask.clone()
        state_dict[key] = value


def _drop_checkpoint_masks(
    model: nn.Module, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
    missing_keys: list, unexpected_keys: list, error_msgs: list,
) -> None:
    # Masks are a function of the tile size, not learned state: forward derives them per size.
    for key in [key for key in state_dict if key.startswith(prefix) and key.endswith(".attn_mask")]:
        del state_dict[key]
