"""CuPy launchers for ``kernel_conv2d.cu``, wrapped in a ``torch.autograd.Function``.

Tensors cross to CuPy through DLPack without a copy, and every kernel is launched on PyTorch's
current CUDA stream so it orders correctly with the surrounding PyTorch work.
"""

from __future__ import annotations

from pathlib import Path

import cupy
import torch

_SOURCE = Path(__file__).with_name("kernel_conv2d.cu")
_KERNEL_NAMES = ("kernel_conv2d_forward", "kernel_conv2d_grad_kernel", "kernel_conv2d_grad_input")
_TYPE_NAMES = {torch.float32: "float", torch.float64: "double"}
_THREADS = 256


@cupy.memoize(for_each_device=True)
def _module() -> cupy.RawModule:
    # compiled once per device; sizes are kernel arguments, so no tile size triggers a recompilation
    names = [f"{name}<{type_name}>" for name in _KERNEL_NAMES for type_name in _TYPE_NAMES.values()]
    module = cupy.RawModule(code=_SOURCE.read_text(), options=("--std=c++14",), name_expressions=names)
    module.compile()
    return module


def _function(name: str, dtype: torch.dtype) -> cupy.RawKernel:
    return _module().get_function(f"{name}<{_TYPE_NAMES[dtype]}>")


def _launch(name: str, grid: torch.Tensor, *tensors: torch.Tensor, kernel_size: int) -> None:
    """Run kernel ``name`` with one thread per element of ``grid``, a (B, C, H, W) tensor."""
    total = grid.numel()
    if total == 0:
        return
    _, channels, height, width = grid.shape
    device_id = grid.device.index if grid.device.index is not None else torch.cuda.current_device()
    blocks = min((total + _THREADS - 1) // _THREADS, 65535 * 4)
    with cupy.cuda.Device(device_id):
        stream = cupy.cuda.ExternalStream(torch.cuda.current_stream(grid.device).cuda_stream, device_id)
        _function(name, grid.dtype)(
            (blocks,),
            (_THREADS,),
            (*[cupy.from_dlpack(t) for t in tensors], cupy.int64(total), cupy.int32(channels),
             cupy.int32(height), cupy.int32(width), cupy.int32(kernel_size)),
            stream=stream,
        )


class _KernelConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input: torch.Tensor, kernel: torch.Tensor, kernel_size: int) -> torch.Tensor:  # type: ignore[override]
        # a RawKernel ignores strides: hand it contiguous memory
        input = input.contiguous()
        kernel = kernel.contiguous()
        output = torch.empty_like(input)
        _launch("kernel_conv2d_forward", output, input, kernel, output, kernel_size=kernel_size)
        ctx.save_for_backward(input, kernel)
        ctx.kernel_size = kernel_size
        return output

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        input, kernel = ctx.saved_tensors
        grad_output = grad_output.contiguous()
        grad_input = grad_kernel = None
        if ctx.needs_input_grad[0]:
            grad_input = torch.empty_like(input)
            _launch("kernel_conv2d_grad_input", grad_input, kernel, grad_output, grad_input,
                    kernel_size=ctx.kernel_size)
        if ctx.needs_input_grad[1]:
            # one thread per input element writes its K*K taps, so the grid is the input's shape
            grad_kernel = torch.empty_like(kernel)
            _launch("kernel_conv2d_grad_kernel", input, input, grad_output, grad_kernel,
                    kernel_size=ctx.kernel_size)
        return grad_input, grad_kernel, None


def kernel_conv2d_cupy(input: torch.Tensor, kernel: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Dynamic filter on CUDA tensors (float32 or float64) with CuPy kernels; see ``core.dynamic_filter``.

    Args:
        input: (B, C, H, W) CUDA features.
        kernel: (B, C*K*K, H, W) CUDA per-pixel filters on the same device.
        kernel_size: K, odd.

    Returns:
        (B, C, H, W) filtered features; differentiable with respect to input and kernel.
    """
    if input.dtype not in _TYPE_NAMES or kernel.dtype != input.dtype:
        # half precision under autocast: compute in float32 and hand back the caller's type
        dtype = input.dtype
        return _KernelConv2d.apply(input.float(), kernel.float(), kernel_size).to(dtype)
    return _KernelConv2d.apply(input, kernel, kernel_size)
