"""How the dynamic-filter kernels are compiled and launched: pure arithmetic, no CuPy, no torch, no GPU.

The CuPy launchers (``kernel_conv2d.py``) and the tests that compile the same source with ``nvcc`` or
run it as C++ on the CPU (``tests/kernels/``) take the compile options, the template instantiations
and the launch geometry from here, so what is tested is what CuPy compiles and launches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("kernel_conv2d.cu")

# options handed to NVRTC through cupy.RawModule (CuPy adds the architecture of the device)
COMPILE_OPTIONS: tuple[str, ...] = ("--std=c++14",)

# the C++ types the templates are instantiated for, by the name torch dtypes are mapped to
TYPE_NAMES: tuple[str, ...] = ("float", "double")

# each kernel's pointer operands in argument order; every kernel then takes (total, C, H, W, K)
KERNEL_OPERANDS: dict[str, tuple[str, str, str]] = {
    "kernel_conv2d_forward": ("input", "kernel", "output"),
    "kernel_conv2d_grad_kernel": ("input", "grad_output", "grad_kernel"),
    "kernel_conv2d_grad_input": ("kernel", "grad_output", "grad_input"),
}

THREADS_PER_BLOCK = 256
# enough blocks to fill any current GPU several times over; the kernels' grid-stride loops cover the rest,
# and the count stays far below the 2^31 - 1 limit of gridDim.x
MAX_BLOCKS = 65535 * 4

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def name_expressions() -> list[str]:
    """Every template instantiation the launchers use, as NVRTC name expressions (``kernel<float>``)."""
    return [f"{name}<{type_name}>" for name in KERNEL_OPERANDS for type_name in TYPE_NAMES]


def block_count(total: int, threads: int = THREADS_PER_BLOCK, max_blocks: int = MAX_BLOCKS) -> int:
    """Blocks of ``threads`` threads for ``total`` elements, one thread each, capped at ``max_blocks``.

    Args:
        total: elements to process (> 0).
        threads: threads per block.
        max_blocks: the cap; beyond it each thread walks several elements (grid-stride loop).

    """
    if total < 1 or threads < 1 or max_blocks < 1:
        raise ValueError(f"total, threads and max_blocks must be positive: {total}, {threads}, {max_blocks}")
    return min(-(-total // threads), max_blocks)


@dataclass(frozen=True)
class KernelLaunch:
    """One launch of a dynamic-filter kernel: which instantiation, the grid, and the scalar arguments.

    Attributes:
        name: kernel name in ``KERNEL_OPERANDS``.
        type_name: "float" or "double".
        blocks: blocks in the (one-dimensional) grid.
        threads: threads per block.
        total: elements the grid walks (B * C * H * W), a 64-bit count.
        channels: C.
        height: H.
        width: W.
        kernel_size: K.

    """

    name: str
    type_name: str
    blocks: int
    threads: int
    total: int
    channels: int
    height: int
    width: int
    kernel_size: int

    @property
    def name_expression(self) -> str:
        """The instantiation to fetch from the compiled module, e.g. ``kernel_conv2d_forward<float>``."""
        return f"{self.name}<{self.type_name}>"

    def scalar_arguments(self) -> tuple[int, int, int, int, int]:
        """``(total, C, H, W, K)`` in the order the kernels take them (``long long``, then four ``int``)."""
        return (self.total, self.channels, self.height, self.width, self.kernel_size)


def plan_launch(
    name: str,
    grid_shape: Sequence[int],
    type_name: str,
    kernel_size: int,
    *,
    threads: int = THREADS_PER_BLOCK,
    max_blocks: int = MAX_BLOCKS,
) -> KernelLaunch | None:
    """The launch of kernel ``name`` with one thread per element of a (B, C, H, W) grid; None when empty.

    Args:
        name: kernel name in ``KERNEL_OPERANDS``.
        grid_shape: (B, C, H, W) of the tensor the threads walk: the output for the forward pass and
            the input for both gradients (one thread per input element writes its K*K kernel taps).
        type_name: "float" or "double".
        kernel_size: K, odd.
        threads: threads per block.
        max_blocks: cap on the blocks (tests lower it to exercise the grid-stride loops).

    Raises:
        ValueError: unknown kernel or type, even or negative K, or sizes the kernels' ``int`` arguments
            and 64-bit offsets cannot hold.

    """
    if name not in KERNEL_OPERANDS:
        raise ValueError(f"unknown kernel {name!r}; expected one of {', '.join(KERNEL_OPERANDS)}")
    if type_name not in TYPE_NAMES:
        raise ValueError(f"the kernels are compiled for {', '.join(TYPE_NAMES)}, not {type_name!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
    if len(grid_shape) != 4:
        raise ValueError(f"the grid must be (B, C, H, W), got {tuple(grid_shape)}")
    batch, channels, height, width = (int(size) for size in grid_shape)
    if min(batch, channels, height, width) < 0:
        raise ValueError(f"negative size in {tuple(grid_shape)}")
    total = batch * channels * height * width
    if total == 0:
        return None
    # the kernels hold C, H, W, K and C*K*K in int, and offsets up to (B*C*K*K) * H * W in long long
    if max(channels * kernel_size * kernel_size, height, width) > INT32_MAX:
        raise ValueError(f"sizes {tuple(grid_shape)} with K={kernel_size} overflow the int arguments")
    if total * kernel_size * kernel_size > INT64_MAX:
        raise ValueError(f"{total} elements with K={kernel_size} overflow the kernels' 64-bit offsets")
    return KernelLaunch(
        name=name,
        type_name=type_name,
        blocks=block_count(total, threads, max_blocks),
        threads=threads,
        total=total,
        channels=channels,
        height=height,
        width=width,
        kernel_size=kernel_size,
    )
