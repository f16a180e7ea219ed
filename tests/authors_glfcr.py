"""A literal transcription of the authors' ``net_CR_RDN.py`` (GLF-CR release), for tests only.

Built for one input size as theirs is (masks as persistent buffers fixed at construction), with
the corrections of ../shared/REFERENCE.md, and the dynamic filter written with ``F.unfold`` the
way a pure-PyTorch ``KernelConv2D`` is usually written. It is deliberately not shared with the
product code, so that the two can disagree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pixel_reshuffle(input, upscale_factor):
    batch_size, channels, in_height, in_width = input.size()
    out_height = in_height // upscale_factor
    out_width = in_width // upscale_factor
    input_view = input.contiguous().view(batch_size, channels, out_height, upscale_factor, out_width, upscale_factor)
    channels = channels * upscale_factor * upscale_factor
    shuffle_out = input_view.permute(0, 1, 3, 5, 2, 4).contiguous()
    return shuffle_out.view(batch_size, channels, out_height, out_width)


class KernelConv2D(nn.Module):
    def __init__(self, ks):
        super().__init__()
        self.ks = ks

    def forward(self, input, kernel):
        b, c, h, w = input.shape
        pad = (self.ks - 1) // 2
        padded = F.pad(input, (pad, pad, pad, pad), mode="replicate")
        cols = F.unfold(padded, self.ks).view(b, c, self.ks * self.ks, h, w)
        return (cols * kernel.view(b, c, self.ks * self.ks, h, w)).sum(2)


def df_conv(in_channels, out_channels, kernel_size):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size - 1) // 2),
                         nn.LeakyReLU(0.1))


class df_resnet_block(nn.Module):
    def __init__(self, channels, kernel_size):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2),
            nn.LeakyReLU(0.1),
            nn.Conv2d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2))

    def forward(self, x):
        return self.stem(x) + x


class DFG(nn.Module):
    def __init__(self, channels, ks_2d):
        super().__init__()
        ks = 3
        half_channels = channels // 2
        self.fac_warp = nn.Sequential(
            df_conv(channels, half_channels, kernel_size=ks),
            df_resnet_block(half_channels, kernel_size=ks),
            df_resnet_block(half_channels, kernel_size=ks),
            df_conv(half_channels, half_channels * ks_2d ** 2, kernel_size=1))

    def forward(self, opt_f, sar_f):
        return self.fac_warp(torch.cat([opt_f, sar_f], 1))


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def window_partition(x, window_size):
    B, H, W, C = x.shape
    x = x.view(B, H // window_size, window_size, W // window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, C)


def window_reverse(windows, window_size, H, W):
    B = int(windows.shape[0] / (H * W / window_size / window_size))
    x = windows.view(B, H // window_size, W // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


class WindowAttention(nn.Module):
    def __init__(self, dim, window_size, num_heads):
        super().__init__()
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size[0] - 1) * (2 * window_size[1] - 1), num_heads))
        coords_h = torch.arange(self.window_size[0])
        coords_w = torch.arange(self.window_size[1])
        coords = torch.stack(torch.meshgrid([coords_h, coords_w], indexing="ij"))
        coords_flatten = torch.flatten(coords, 1)
        relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        relative_coords = relative_coords.permute(1, 2, 0).contiguous()
        relative_coords[:, :, 0] += self.window_size[0] - 1
        relative_coords[:, :, 1] += self.window_size[1] - 1
        relative_coords[:, :, 0] *= 2 * self.window_size[1] - 1
        self.register_buffer("relative_position_index", relative_coords.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3)
        self.qkv_SAR = nn.Linear(dim, dim * 3)
        self.attn_fuse_1x1conv = nn.Conv2d(8, 8, kernel_size=1)
        self.proj = nn.Linear(dim, dim)
        self.proj_SAR = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, inputs, mask=None):
        [x, x_SAR] = inputs
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        qkv_SAR = self.qkv_SAR(x_SAR).reshape(B_, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q_SAR, k_SAR, v_SAR = qkv_SAR[0], qkv_SAR[1], qkv_SAR[2]
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        q_SAR = q_SAR * self.scale
        attn_SAR = q_SAR @ k_SAR.transpose(-2, -1)
        relative_position_bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(
            self.window_size[0] * self.window_size[1], self.window_size[0] * self.window_size[1], -1)
        relative_position_bias = relative_position_bias.permute(2, 0, 1).contiguous()
        attn = attn + relative_position_bias.unsqueeze(0)
        attn_SAR = attn_SAR + relative_position_bias.unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(B_ // nW, nW, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
            attn_SAR = attn_SAR.view(B_ // nW, nW, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn_SAR = attn_SAR.view(-1, self.num_heads, N, N)
        attn_diff_conv = self.attn_fuse_1x1conv(attn_SAR - attn)
        attn_fuse_gate = torch.sigmoid(attn_diff_conv)
        attn = attn + (attn_SAR - attn) * attn_fuse_gate
        attn = self.softmax(attn)
        attn_SAR = self.softmax(attn_SAR)
        x = (attn @ v).transpose(1, 2).reshape(B_, N, C)
        x_SAR = (attn_SAR @ v_SAR).transpose(1, 2).reshape(B_, N, C)
        return [self.proj(x), self.proj_SAR(x_SAR)]


class RDB_Conv(nn.Module):
    def __init__(self, inChannels, growRate, kSize, input_resolution, num_heads, window_size, shift_size, mlp_ratio):
        super().__init__()
        Cin = inChannels
        G = growRate
        self.dim = G
        self.input_resolution = input_resolution
        self.window_size = window_size
        self.shift_size = shift_size
        if min(self.input_resolution) <= self.window_size:
            self.shift_size = 0
            self.window_size = min(self.input_resolution)
        if self.shift_size > 0:
            H, W = self.input_resolution
            img_mask = torch.zeros((1, H, W, 1))
            h_slices = (slice(0, -self.window_size), slice(-self.window_size, -self.shift_size),
                        slice(-self.shift_size, None))
            w_slices = (slice(0, -self.window_size), slice(-self.window_size, -self.shift_size),
                        slice(-self.shift_size, None))
            cnt = 0
            for h in h_slices:
                for w in w_slices:
                    img_mask[:, h, w, :] = cnt
                    cnt += 1
            mask_windows = window_partition(img_mask, self.window_size)
            mask_windows = mask_windows.view(-1, self.window_size * self.window_size)
            attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
            attn_mask = attn_mask.masked_fill(attn_mask != 0, float(-100.0)).masked_fill(attn_mask == 0, float(0.0))
        else:
            attn_mask = None
        self.register_buffer("attn_mask", attn_mask)
        self.conv = nn.Sequential(*[nn.Conv2d(Cin, G, kSize, padding=(kSize - 1) // 2, stride=1), nn.ReLU()])
        self.conv_SAR = nn.Sequential(*[nn.Conv2d(Cin, G, kSize, padding=(kSize - 1) // 2, stride=1), nn.ReLU()])
        self.attn = WindowAttention(self.dim, window_size=(self.window_size, self.window_size), num_heads=num_heads)
        self.norm2 = nn.LayerNorm(self.dim)
        self.norm2_SAR = nn.LayerNorm(self.dim)
        mlp_hidden_dim = int(self.dim * mlp_ratio)
        self.mlp = Mlp(self.dim, mlp_hidden_dim)
        self.mlp_SAR = Mlp(self.dim, mlp_hidden_dim)

    def forward(self, inputs):
        [input, input_SAR] = inputs
        [x, x_SAR] = inputs
        H, W = self.input_resolution
        x_conv = self.conv(x)
        x_SAR_conv = self.conv_SAR(x_SAR)
        x_conv_unfold = x_conv.flatten(2).transpose(1, 2)
        x_SAR_conv_unfold = x_SAR_conv.flatten(2).transpose(1, 2)
        shortcut = x_conv_unfold
        shortcut_SAR = x_SAR_conv_unfold
        B, H_W, growRate = x_conv_unfold.shape
        x = x_conv_unfold.view(B, H, W, growRate)
        x_SAR = x_SAR_conv_unfold.view(B, H, W, growRate)
        if self.shift_size > 0:
            shifted_x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            shifted_x_SAR = torch.roll(x_SAR, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
        else:
            shifted_x = x
            shifted_x_SAR = x_SAR
        x_windows = window_partition(shifted_x, self.window_size).view(-1, self.window_size * self.window_size, growRate)
        x_SAR_windows = window_partition(shifted_x_SAR, self.window_size).view(
            -1, self.window_size * self.window_size, growRate)
        [attn_windows, SAR_attn_windows] = self.attn([x_windows, x_SAR_windows], mask=self.attn_mask)
        attn_windows = attn_windows.view(-1, self.window_size, self.window_size, growRate)
        SAR_attn_windows = SAR_attn_windows.view(-1, self.window_size, self.window_size, growRate)
        shifted_x = window_reverse(attn_windows, self.window_size, H, W)
        shifted_x_SAR = window_reverse(SAR_attn_windows, self.window_size, H, W)
        if self.shift_size > 0:
            x = torch.roll(shifted_x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
            x_SAR = torch.roll(shifted_x_SAR, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        else:
            x = shifted_x
            x_SAR = shifted_x_SAR
        x = x.view(B, H_W, growRate)
        x_SAR = x_SAR.view(B, H_W, growRate)
        x = shortcut + x
        x = x + self.mlp(self.norm2(x))
        x_SAR = shortcut_SAR + x_SAR
        x_SAR = x_SAR + self.mlp_SAR(self.norm2_SAR(x_SAR))
        x_unfold = x.transpose(1, 2).view(B, growRate, H, W)
        x_SAR_unfold = x_SAR.transpose(1, 2).view(B, growRate, H, W)
        return [torch.cat((input, x_unfold), 1), torch.cat((input_SAR, x_SAR_unfold), 1)]


class RDB(nn.Module):
    def __init__(self, growRate0, growRate, nConvLayers, kSize, input_resolution, num_heads, window_size, mlp_ratio):
        super().__init__()
        G0, G, C = growRate0, growRate, nConvLayers
        convs = []
        for c in range(C):
            convs.append(RDB_Conv(G0 + c * G, G, kSize, input_resolution, num_heads, window_size,
                                  0 if (c % 2 == 0) else window_size // 2, mlp_ratio))
        self.convs = nn.Sequential(*convs)
        self.LFF = nn.Conv2d(G0 + C * G, G0, 3, padding=1, stride=1)
        self.LFF_SAR = nn.Conv2d(G0 + C * G, G0, 3, padding=1, stride=1)

    def forward(self, inputs):
        [x, x_SAR] = inputs
        [x_convs, x_SAR_convs] = self.convs(inputs)
        return [self.LFF(x_convs) + x, self.LFF_SAR(x_SAR_convs) + x_SAR]


class RDN_residual_CR(nn.Module):
    def __init__(self, input_size):
        super().__init__()
        size = input_size if isinstance(input_size, tuple) else (input_size, input_size)
        self.G0 = 96
        kSize = 3
        self.D, C, G = 6, 5, 48
        self.SFENet1 = nn.Conv2d(13 * 4, self.G0, 5, padding=2, stride=1)
        self.SFENet2 = nn.Conv2d(self.G0, self.G0, kSize, padding=(kSize - 1) // 2, stride=1)
        self.SFENet1_SAR = nn.Conv2d(2 * 4, self.G0, 5, padding=2, stride=1)
        self.SFENet2_SAR = nn.Conv2d(self.G0, self.G0, kSize, padding=(kSize - 1) // 2, stride=1)
        self.RDBs = nn.ModuleList()
        for i in range(self.D):
            self.RDBs.append(RDB(self.G0, G, C, kSize, (size[0] // 2, size[1] // 2), 8, 8, 2.0))
        self.GFF = nn.Sequential(*[nn.Conv2d(self.D * self.G0, self.G0, 1, padding=0, stride=1),
                                   nn.Conv2d(self.G0, self.G0, kSize, padding=(kSize - 1) // 2, stride=1)])
        self.UPNet = nn.Sequential(*[nn.Conv2d(self.G0, 256, kSize, padding=(kSize - 1) // 2, stride=1),
                                     nn.PixelShuffle(2),
                                     nn.Conv2d(64, 13, kSize, padding=(kSize - 1) // 2, stride=1)])
        channels, ks_2d = self.G0, 5
        self.DF = nn.ModuleList([DFG(channels * 2, ks_2d) for _ in range(self.D)])
        self.DFR = nn.ModuleList([KernelConv2D(ks_2d) for _ in range(self.D)])
        self.sar_fuse_1x1conv = nn.ModuleList([nn.Conv2d(channels, channels, 1) for _ in range(self.D)])
        self.opt_distribute_1x1conv = nn.ModuleList([nn.Conv2d(channels, channels, 1) for _ in range(self.D)])

    def fuse(self, OPT, SAR, i):
        OPT_m, SAR_m = OPT, SAR
        kernel_sar = self.DF[i](OPT_m, SAR_m)
        SAR_m = self.DFR[i](SAR_m, kernel_sar)
        sar_fuse_gate = torch.sigmoid(self.sar_fuse_1x1conv[i](SAR_m - OPT_m))
        new_OPT = OPT + (SAR_m - OPT_m) * sar_fuse_gate
        new_OPT_m = new_OPT
        opt_distribute_gate = torch.sigmoid(self.opt_distribute_1x1conv[i](new_OPT_m - SAR_m))
        new_SAR = SAR + (new_OPT_m - SAR_m) * opt_distribute_gate
        return new_OPT, new_SAR

    def forward(self, cloudy_data, SAR):
        B_shuffle = pixel_reshuffle(cloudy_data, 2)
        f__1 = self.SFENet1(B_shuffle)
        x = self.SFENet2(f__1)
        B_shuffle_SAR = pixel_reshuffle(SAR, 2)
        f__1__SAR = self.SFENet1_SAR(B_shuffle_SAR)
        x_SAR = self.SFENet2_SAR(f__1__SAR)
        RDBs_out = []
        for i in range(self.D):
            [x, x_SAR] = self.RDBs[i]([x, x_SAR])
            x, x_SAR = self.fuse(x, x_SAR, i)
            RDBs_out.append(x)
        x = self.GFF(torch.cat(RDBs_out, 1))
        x += f__1
        return self.UPNet(x) + cloudy_data
