"""CuPy launchers for ``kernel_conv2d.cu``, wrapped in a ``torch.autograd.Function``.

Tensors cross to CuPy through DLPack without a copy, and every kernel is launched on PyTorch's
current CUDA stream so it orders correctly with the surrounding PyTorch work. The launch geometry and
compile options come from ``launch.py``; the autograd function takes the launcher as an argument, so
the tests run it, with the same source compiled as C++, on the CPU (``tests/kernels/``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from .launch import COMPILE_OPTIONS, SOURCE, KernelLaunch, name_expressions, plan_launch

# torch dtype -> the C++ type the templates are instantiated for (launch.TYPE_NAMES)
TORCH_TYPE_NAMES = {torch.float32: "float", torch.float64: "double"}

# runs one planned launch on three contiguous tensors of one dtype and device, in KERNEL_OPERANDS order
Launcher = Callable[[KernelLaunch, tuple[torch.Tensor, torch.Tensor, torch.Tensor]], None]


@functools.cache
def _module(device_id: int) -> Any:
    # compiled once per device; sizes are kernel arguments, so no tile size triggers a recompilation
    import cupy

    with cupy.cuda.Device(device_id):
        module = cupy.RawModule(
            code=SOURCE.read_text(), options=COMPILE_OPTIONS, name_expressions=name_expressions()
        )
        module.compile()
    return module


def cupy_launcher(launch: KernelLaunch, operands: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
    """Launch on the GPU with CuPy, on PyTorch's current stream of the operands' device."""
    import cupy

    device = operands[0].device
    device_id = device.index if device.index is not None else torch.cuda.current_device()
    with cupy.cuda.Device(device_id):
        stream = cupy.cuda.ExternalStream(torch.cuda.current_stream(device).cuda_stream, device_id)
        total, channels, height, width, kernel_size = launch.scalar_arguments()
        _module(device_id).get_function(launch.name_expression)(
            (launch.blocks,),
            (launch.threads,),
            (
                # DLPack refuses tensors that require grad; the kernels never need autograd's view of them
                *[cupy.from_dlpack(t.detach()) for t in operands],
                cupy.int64(total),
                cupy.int32(channels),
                cupy.int32(height),
                cupy.int32(width),
                cupy.int32(kernel_size),
            ),
            stream=stream,
        )


def run_kernel(
    launcher: Launcher, name: str, grid: torch.Tensor, operands: tuple[torch.Tensor, ...], kernel_size: int
) -> None:
    """Run kernel ``name`` with one thread per element of ``grid``, a (B, C, H, W) tensor.

    Args:
        launcher: ``cupy_launcher`` on CUDA; the tests pass one that runs the C++ build on the CPU.
        name: kernel name (``launch.KERNEL_OPERANDS``).
        grid: the tensor whose elements the threads walk.
        operands: the kernel's three tensors, contiguous (a raw kernel ignores strides).
        kernel_size: K.

    """
    if any(not t.is_contiguous() or t.dtype != grid.dtype or t.device != grid.device for t in operands):
        raise ValueError("kernel operands must be contiguous tensors of one dtype on one device")
    launch = plan_launch(name, tuple(grid.shape), TORCH_TYPE_NAMES[grid.dtype], kernel_size)
    if launch is not None:
        launcher(launch, (operands[0], operands[1], operands[2]))


class _KernelConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input: torch.Tensor, kernel: torch.Tensor, kernel_size: int, launcher: Launcher):  # type: ignore[override]
        # a raw kernel ignores strides: hand it contiguous memory
        input = input.contiguous()
        kernel = kernel.contiguous()
        output = torch.empty_like(input, memory_format=torch.contiguous_format)
        run_kernel(launcher, "kernel_conv2d_forward", output, (input, kernel, output), kernel_size)
        ctx.save_for_backward(input, kernel)
        ctx.kernel_size = kernel_size
        ctx.launcher = launcher
        return output

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):  # type: ignore[override]
        input, kernel = ctx.saved_tensors
        grad_output = grad_output.contiguous()
        grad_input = grad_kernel = None
        if ctx.needs_input_grad[0]:
            grad_input = torch.empty_like(input)
            operands = (kernel, grad_output, grad_input)
            run_kernel(ctx.launcher, "kernel_conv2d_grad_input", grad_input, operands, ctx.kernel_size)
        if ctx.needs_input_grad[1]:
            # one thread per input element writes its K*K taps, so the grid is the input's shape
            grad_kernel = torch.empty_like(kernel)
            operands = (input, grad_output, grad_kernel)
            run_kernel(ctx.launcher, "kernel_conv2d_grad_kernel", input, operands, ctx.kernel_size)
        return grad_input, grad_kernel, None, None


def kernel_conv2d_launched(
    input: torch.Tensor, kernel: torch.Tensor, kernel_size: int, launcher: Launcher
) -> torch.Tensor:
    """The dynamic filter through the compiled kernels, run by ``launcher``; differentiable.

    Half-precision inputs (autocast) are computed in float32 and handed back in the caller's type.
    """
    if input.dtype not in TORCH_TYPE_NAMES or kernel.dtype != input.dtype:
        dtype = input.dtype
        return _KernelConv2d.apply(input.float(), kernel.float(), kernel_size, launcher).to(dtype)
    return _KernelConv2d.apply(input, kernel, kernel_size, launcher)


def kernel_conv2d_cupy(input: torch.Tensor, kernel: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Dynamic filter on CUDA tensors (float32 or float64) with CuPy kernels; see ``core.dynamic_filter``.

    Args:
        input: (B, C, H, W) CUDA features.
        kernel: (B, C*K*K, H, W) CUDA per-pixel filters on the same device.
        kernel_size: K, odd.

    Returns:
        (B, C, H, W) filtered features; differentiable with respect to input and kernel.
    """
    return kernel_conv2d_launched(input, kernel, kernel_size, cupy_launcher)
