"""The GLF-CR network and running it. Needs torch.

Network, attention, dynamic filter (PyTorch path), checkpoints, device choice, inference.

Public names are re-exported here and imported on first use (PEP 562), so importing one module
of this package does not import the others.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "OPTICAL_BANDS": "network",
    "SAR_BANDS": "network",
    "FEATURES": "network",
    "BLOCKS": "network",
    "LAYERS": "network",
    "MLP_RATIO": "network",
    "DYNAMIC_KERNEL": "network",
    "SIZE_MULTIPLE": "network",
    "CHECKPOINT_TILE": "network",
    "FORWARD_STAGES": "network",
    "pixel_reshuffle": "network",
    "RDBConv": "network",
    "RDB": "network",
    "ConvLeaky": "network",
    "ResBlock": "network",
    "DFG": "network",
    "GLFCR": "network",
    "check_tile_shape": "network",
    "GROWTH": "attention",
    "HEADS": "attention",
    "WINDOW": "attention",
    "ATTENTION_CHUNK": "attention",
    "relative_position_index": "attention",
    "window_partition": "attention",
    "window_reverse": "attention",
    "window_layout": "attention",
    "shifted_window_mask": "attention",
    "Mlp": "attention",
    "WindowAttention": "attention",
    "kernel_conv2d_torch": "dynamic_filter",
    "kernel_conv2d": "dynamic_filter",
    "generate_and_apply_filters": "dynamic_filter",
    "DERIVED_SUFFIXES": "checkpoint",
    "load_state_dict": "checkpoint",
    "load_model": "checkpoint",
    "save_checkpoint": "checkpoint",
    "DEVICE_CHOICES": "device",
    "resolve_device": "device",
    "cpu_runs_bfloat16_natively": "device",
    "PRECISIONS": "inference",
    "prepare_model": "inference",
    "predict": "inference",
    "check_precision": "inference",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
