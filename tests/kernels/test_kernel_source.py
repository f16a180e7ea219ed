"""The CUDA source of the dynamic filter, checked on every machine, GPU or not.

1. ``kernel_conv2d.cu`` compiles to PTX the way CuPy compiles it (the launchers' options and template
   instantiations, from ``glfcr_qgis/kernels/launch.py``) for the GPU generations users have, with
   ``nvcc -ptx`` and, where its library is installed, NVRTC itself; every kernel entry is in the PTX.
2. The very same source, compiled as C++ with ``cuda_on_cpu.h``, runs on the CPU over the whole launch
   grid (also grids much smaller than the work, so the grid-stride loops run), driven through the
   launchers' own autograd function, and matches the PyTorch path: forward and both gradients.
3. The launch arithmetic (block counts, 64-bit totals, contiguous operands, which tensor is the grid).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from paths import REPO_ROOT, SHARED_DIR

from glfcr_qgis.core.model.dynamic_filter import kernel_conv2d_torch
from glfcr_qgis.kernels.kernel_conv2d import kernel_conv2d_launched, run_kernel
from glfcr_qgis.kernels.launch import (
    COMPILE_OPTIONS,
    INT32_MAX,
    KERNEL_OPERANDS,
    MAX_BLOCKS,
    SOURCE,
    THREADS_PER_BLOCK,
    TYPE_NAMES,
    KernelLaunch,
    block_count,
    name_expressions,
    plan_launch,
)

HERE = Path(__file__).resolve().parent
# the GPU generations users have: Turing, Ampere (A100, consumer), Ada, Hopper
ARCHITECTURES = ("75", "80", "86", "89", "90")
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-12}


# --- 1. compiling the source as CuPy does ------------------------------------------------------------


def _nvcc() -> str | None:
    for home in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if home and Path(home, "bin", "nvcc").is_file():
            return str(Path(home, "bin", "nvcc"))
    return shutil.which("nvcc")


def explicit_instantiations() -> str:
    """A .cu file that includes the kernel source and instantiates every name expression CuPy asks for."""
    lines = ['#include "kernel_conv2d.cu"']
    for name, operands in KERNEL_OPERANDS.items():
        for type_name in TYPE_NAMES:
            pointers = [f"const {type_name}*" for _ in operands[:-1]] + [
                f"{type_name}*"
            ]  # last one is written
            arguments = ", ".join([*pointers, "long long", "int", "int", "int", "int"])
            lines.append(f"template __global__ void {name}<{type_name}>({arguments});")
    return "\n".join(lines) + "\n"


def expected_signature(name: str, type_name: str) -> str:
    """What c++filt prints for the instantiation: ``void kernel<float>(float const*, ..., int)``."""
    pointers = [f"{type_name} const*"] * (len(KERNEL_OPERANDS[name]) - 1) + [f"{type_name}*"]
    return f"void {name}<{type_name}>({', '.join([*pointers, 'long long', 'int', 'int', 'int', 'int'])})"


def ptx_entries(ptx: str) -> list[str]:
    """Names of the kernels (``.entry``) a PTX module defines, mangled."""
    return re.findall(r"^\s*(?:\.visible\s+|\.weak\s+)?\.entry\s+([\w$]+)\s*\(", ptx, flags=re.MULTILINE)


def demangle(names: list[str]) -> list[str]:
    tool = shutil.which("c++filt") or shutil.which("cu++filt")
    if tool is None:
        pytest.skip("no c++filt (binutils) to demangle the PTX entry names")
    output = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True, check=True).stdout
    return output.splitlines()


@pytest.fixture(scope="module")
def nvcc_ptx(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """PTX of the explicit instantiations for each architecture, compiled in parallel."""
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("no CUDA compiler (nvcc) found on PATH, CUDA_HOME or /usr/local/cuda")
    folder = tmp_path_factory.mktemp("ptx")
    wrapper = folder / "instantiations.cu"
    wrapper.write_text(explicit_instantiations())
    jobs = {}
    for arch in ARCHITECTURES:
        command = [
            nvcc,
            "-ptx",
            *COMPILE_OPTIONS,
            f"--gpu-architecture=compute_{arch}",
            "-I",
            str(SOURCE.parent),
            str(wrapper),
            "-o",
            str(folder / f"sm_{arch}.ptx"),
        ]
        jobs[arch] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for arch, job in jobs.items():
        log = job.communicate()[0]
        assert job.returncode == 0, f"nvcc failed for sm_{arch}:\n{log}"
    return {arch: (folder / f"sm_{arch}.ptx").read_text() for arch in ARCHITECTURES}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_nvcc_ptx_has_every_kernel_entry(nvcc_ptx: dict[str, str], arch: str, tmp_path: Path) -> None:
    ptx = nvcc_ptx[arch]
    assert f".target sm_{arch}" in ptx
    entries = ptx_entries(ptx)
    expected = sorted(
        expected_signature(name, type_name) for name in KERNEL_OPERANDS for type_name in TYPE_NAMES
    )
    assert sorted(demangle(entries)) == expected
    # and the PTX assembles into machine code for that GPU
    ptxas = Path(_nvcc()).with_name("ptxas")
    if ptxas.is_file():
        source = tmp_path / "module.ptx"
        source.write_text(ptx)
        run = subprocess.run(
            [str(ptxas), f"-arch=sm_{arch}", str(source), "-o", str(tmp_path / "module.cubin")],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr


def test_explicit_instantiations_are_the_launchers_name_expressions() -> None:
    instantiated = re.findall(r"template __global__ void (\w+<\w+>)\(", explicit_instantiations())
    assert sorted(instantiated) == sorted(name_expressions())
    assert len(name_expressions()) == len(KERNEL_OPERANDS) * len(TYPE_NAMES) == 6


def _nvrtc_library() -> str | None:
    """libnvrtc: ``GLFCR_NVRTC``, the loader's search path, or the ``nvidia-cuda-nvrtc`` wheels."""
    candidates = [
        os.environ.get("GLFCR_NVRTC"),
        ctypes.util.find_library("nvrtc"),
        "libnvrtc.so.13",
        "libnvrtc.so.12",
        "libnvrtc.so",
    ]
    for site in sys.path:
        candidates += sorted(glob.glob(os.path.join(site, "nvidia", "*", "lib", "libnvrtc.so*")))
    for candidate in candidates:
        if not candidate or "builtins" in candidate or ".alt." in candidate:
            continue
        try:
            # NVRTC opens its builtins library by name at compile time: load the one beside it first
            for builtins in sorted(
                glob.glob(os.path.join(os.path.dirname(candidate), "libnvrtc-builtins.so*"))
            ):
                if ".alt." not in builtins:
                    ctypes.CDLL(builtins, mode=ctypes.RTLD_GLOBAL)
            ctypes.CDLL(candidate)
        except OSError:
            continue
        return candidate
    return None


def nvrtc_ptx(library: str, arch: str) -> tuple[str, dict[str, str]]:
    """Compile the source with NVRTC as CuPy's RawModule does: its options and name expressions.

    Returns:
        The PTX and the lowered (mangled) name of each name expression.

    """
    nvrtc = ctypes.CDLL(library)

    def check(status: int, what: str, program: ctypes.c_void_p | None = None) -> None:
        if status != 0:
            log = ""
            if program is not None:
                size = ctypes.c_size_t()
                nvrtc.nvrtcGetProgramLogSize(program, ctypes.byref(size))
                buffer = ctypes.create_string_buffer(size.value)
                nvrtc.nvrtcGetProgramLog(program, buffer)
                log = buffer.value.decode()
            raise AssertionError(f"NVRTC {what} failed with status {status}:\n{log}")

    program = ctypes.c_void_p()
    check(
        nvrtc.nvrtcCreateProgram(
            ctypes.byref(program), SOURCE.read_bytes(), b"kernel_conv2d.cu", 0, None, None
        ),
        "create",
    )
    try:
        for expression in name_expressions():
            check(nvrtc.nvrtcAddNameExpression(program, expression.encode()), "add name expression")
        options = [option.encode() for option in (*COMPILE_OPTIONS, f"--gpu-architecture=compute_{arch}")]
        check(
            nvrtc.nvrtcCompileProgram(program, len(options), (ctypes.c_char_p * len(options))(*options)),
            "compile",
            program,
        )
        size = ctypes.c_size_t()
        check(nvrtc.nvrtcGetPTXSize(program, ctypes.byref(size)), "PTX size")
        buffer = ctypes.create_string_buffer(size.value)
        check(nvrtc.nvrtcGetPTX(program, buffer), "PTX")
        lowered = {}
        for expression in name_expressions():
            name = ctypes.c_char_p()
            check(nvrtc.nvrtcGetLoweredName(program, expression.encode(), ctypes.byref(name)), "lowered name")
            lowered[expression] = name.value.decode()
        return buffer.value.decode(), lowered
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(program))


def test_nvrtc_compiles_every_name_expression() -> None:
    library = _nvrtc_library()
    if library is None:
        pytest.skip("NVRTC (libnvrtc) is not installed; set GLFCR_NVRTC to its path to run this check")
    for arch in ARCHITECTURES:
        ptx, lowered = nvrtc_ptx(library, arch)
        assert sorted(lowered.values()) == sorted(ptx_entries(ptx)), arch
        for expression, mangled in lowered.items():
            name, type_name = expression[:-1].split("<")
            assert demangle([mangled]) == [expected_signature(name, type_name)]


# --- 2. the same source executed on the CPU ----------------------------------------------------------


class CpuKernels:
    """``kernel_conv2d.cu`` built as a C++ shared library; a launcher for ``kernel_conv2d_launched``.

    ``blocks``/``threads``, when set, replace the launchers' grid (grids smaller than the work run the
    kernels' grid-stride loops); ``launches`` records what was launched.
    """

    def __init__(self, library: Path, blocks: int | None = None, threads: int | None = None) -> None:
        self.library = ctypes.CDLL(str(library))
        self.path = library
        self.blocks = blocks
        self.threads = threads
        self.launches: list[KernelLaunch] = []
        argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_longlong] + [ctypes.c_int] * 4 + [ctypes.c_uint] * 2
        for name in KERNEL_OPERANDS:
            for type_name in TYPE_NAMES:
                getattr(self.library, f"{name}__{type_name}").argtypes = argtypes

    def with_grid(self, blocks: int, threads: int) -> CpuKernels:
        return CpuKernels(self.path, blocks, threads)

    def __call__(
        self, launch: KernelLaunch, operands: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    ) -> None:
        if self.blocks is not None:
            launch = dataclasses.replace(launch, blocks=self.blocks, threads=self.threads)
        self.launches.append(launch)
        assert all(t.device.type == "cpu" and t.is_contiguous() for t in operands)
        function = getattr(self.library, f"{launch.name}__{launch.type_name}")
        function(*[t.data_ptr() for t in operands], *launch.scalar_arguments(), launch.blocks, launch.threads)


@pytest.fixture(scope="module")
def cpu_kernels(tmp_path_factory: pytest.TempPathFactory) -> CpuKernels:
    compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("no C++ compiler (g++, c++, clang++) to build the kernels for the CPU")
    library = tmp_path_factory.mktemp("cpu_kernels") / "kernel_conv2d_cpu.so"
    # no contraction into FMA: the CPU results must not depend on the host's instruction set
    command = [
        compiler,
        "-O2",
        "-std=c++14",
        "-ffp-contract=off",
        "-Wall",
        "-Werror",
        "-shared",
        "-fPIC",
        "-I",
        str(SOURCE.parent),
        "-I",
        str(HERE),
        str(HERE / "cpu_runner.cpp"),
        "-o",
        str(library),
    ]
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return CpuKernels(library)


def _reference_cases() -> list[dict]:
    path = SHARED_DIR / "reference" / "kernelconv_reference.pt"
    if not path.is_file():
        pytest.skip(f"shared test material not found at {path}")
    return torch.load(path, weights_only=True)


def _forward_and_gradients(
    function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    input: torch.Tensor,
    kernel: torch.Tensor,
    grad_output: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = input.detach().clone().requires_grad_()
    f = kernel.detach().clone().requires_grad_()
    output = function(x, f)
    output.backward(grad_output)
    return output.detach(), x.grad, f.grad


def _assert_matches_torch_path(
    launcher: CpuKernels, input: torch.Tensor, kernel: torch.Tensor, k: int, seed: int = 0
) -> None:
    grad_output = torch.randn(input.shape, dtype=input.dtype, generator=torch.Generator().manual_seed(seed))
    ours = _forward_and_gradients(
        lambda x, f: kernel_conv2d_launched(x, f, k, launcher), input, kernel, grad_output
    )
    torch_path = _forward_and_gradients(lambda x, f: kernel_conv2d_torch(x, f, k), input, kernel, grad_output)
    for label, a, b in zip(("forward", "grad input", "grad kernel"), ours, torch_path, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        error = (a - b).abs().max().item()
        assert error <= TOLERANCE[input.dtype], f"{label}: max abs difference {error}"


def _random_case(shape: tuple[int, int, int, int], k: int, dtype: torch.dtype, seed: int):  # noqa: ANN202
    generator = torch.Generator().manual_seed(seed)
    b, c, h, w = shape
    return (
        torch.randn(shape, dtype=dtype, generator=generator),
        torch.randn(b, c * k * k, h, w, dtype=dtype, generator=generator),
    )


# (blocks, threads) replacing the launchers' grid: None keeps it; the others are far smaller than the work
GRIDS = [None, (1, 32), (3, 7)]


@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: "launcher grid" if g is None else f"{g[0]}x{g[1]}")
def test_reference_cases_on_the_cpu(cpu_kernels: CpuKernels, grid: tuple[int, int] | None) -> None:
    launcher = cpu_kernels if grid is None else cpu_kernels.with_grid(*grid)
    for index, case in enumerate(_reference_cases()):
        output = kernel_conv2d_launched(case["input"], case["kernel"], case["K"], launcher)
        assert (output - case["output"]).abs().max().item() <= 1e-5, index
        _assert_matches_torch_path(launcher, case["input"], case["kernel"], case["K"], seed=index)
    assert {launch.name for launch in launcher.launches} == set(KERNEL_OPERANDS)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("k", [3, 5])
@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 2, 3, 17), (2, 3, 17, 3), (2, 2, 6, 5)])
@pytest.mark.parametrize("grid", GRIDS, ids=lambda g: "launcher grid" if g is None else f"{g[0]}x{g[1]}")
def test_odd_sizes_on_the_cpu(
    cpu_kernels: CpuKernels, shape: tuple[int, int, int, int], k: int, dtype: torch.dtype, grid: tuple | None
) -> None:
    launcher = cpu_kernels if grid is None else cpu_kernels.with_grid(*grid)
    input, kernel = _random_case(shape, k, dtype, seed=sum(shape) + k)
    _assert_matches_torch_path(launcher, input, kernel, k, seed=k)


def test_every_element_written_and_nothing_outside(cpu_kernels: CpuKernels) -> None:
    """Operands inside NaN-filled guard memory: results are finite and the guards untouched."""
    k, shape = 5, (2, 3, 7, 5)
    input, kernel = _random_case(shape, k, torch.float64, seed=3)
    grad_output = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    for name, roles in KERNEL_OPERANDS.items():
        tensors = {
            "input": input,
            "kernel": kernel,
            "grad_output": grad_output,
            "output": torch.empty(shape, dtype=torch.float64),
            "grad_input": torch.empty(shape, dtype=torch.float64),
            "grad_kernel": torch.empty(kernel.shape, dtype=torch.float64),
        }
        guarded, views = [], []
        for role in roles:
            memory = torch.full((tensors[role].numel() + 2 * 64,), float("nan"), dtype=torch.float64)
            view = memory[64:-64].view(tensors[role].shape)
            if role in ("input", "kernel", "grad_output"):
                view.copy_(tensors[role])
            guarded.append(memory)
            views.append(view)
        for blocks, threads in [(block_count(input.numel()), THREADS_PER_BLOCK), (1, 3), (5, 32)]:
            launch = plan_launch(name, shape, "double", k, threads=threads, max_blocks=blocks)
            cpu_kernels(launch, tuple(views))
            assert torch.isfinite(views[2]).all(), name
            assert torch.isnan(guarded[2][:64]).all() and torch.isnan(guarded[2][-64:]).all(), name


def test_gradcheck_float64_on_the_cpu(cpu_kernels: CpuKernels) -> None:
    input, kernel = _random_case((1, 2, 5, 4), 3, torch.float64, seed=7)
    input.requires_grad_()
    kernel.requires_grad_()
    launcher = cpu_kernels.with_grid(2, 16)
    assert torch.autograd.gradcheck(lambda x, f: kernel_conv2d_launched(x, f, 3, launcher), (input, kernel))


def test_non_contiguous_inputs_are_handed_over_contiguous(cpu_kernels: CpuKernels) -> None:
    input, kernel = _random_case((2, 3, 9, 6), 5, torch.float32, seed=8)
    # the same values in other memory layouts: channels-last, and a transposed view
    strided_input = input.transpose(2, 3).contiguous().transpose(2, 3)
    strided_kernel = kernel.contiguous(memory_format=torch.channels_last)
    assert not strided_input.is_contiguous() and not strided_kernel.is_contiguous()
    output = kernel_conv2d_launched(strided_input, strided_kernel, 5, cpu_kernels)
    assert torch.equal(output, kernel_conv2d_launched(input, kernel, 5, cpu_kernels))
    _assert_matches_torch_path(cpu_kernels, strided_input, strided_kernel, 5)


def test_half_precision_runs_in_float32_and_comes_back_in_its_type(cpu_kernels: CpuKernels) -> None:
    input, kernel = _random_case((1, 2, 4, 5), 3, torch.float32, seed=9)
    output = kernel_conv2d_launched(input.bfloat16(), kernel.bfloat16(), 3, cpu_kernels)
    assert output.dtype == torch.bfloat16
    expected = kernel_conv2d_torch(input.bfloat16().float(), kernel.bfloat16().float(), 3).bfloat16()
    assert torch.equal(output, expected)
    assert {launch.type_name for launch in cpu_kernels.launches} <= {"float", "double"}


# --- 3. the launch arithmetic ------------------------------------------------------------------------


def test_block_counts() -> None:
    assert block_count(1) == 1
    assert block_count(THREADS_PER_BLOCK) == 1
    assert block_count(THREADS_PER_BLOCK + 1) == 2
    assert block_count(1000, threads=7) == 143
    assert block_count(MAX_BLOCKS * THREADS_PER_BLOCK) == MAX_BLOCKS
    assert (
        block_count(MAX_BLOCKS * THREADS_PER_BLOCK + 1) == MAX_BLOCKS
    )  # the grid-stride loop takes the rest
    assert block_count(5, max_blocks=2) == 1
    for bad in [(0,), (5, 0), (5, 256, 0)]:
        with pytest.raises(ValueError, match="positive"):
            block_count(*bad)


def test_totals_beyond_32_bits_are_exact() -> None:
    # 64 tiles of 96 x 1024 x 1024 features: 6.4e9 elements, and 161e9 kernel taps for the gradient
    launch = plan_launch("kernel_conv2d_grad_kernel", (64, 96, 1024, 1024), "float", 5)
    assert launch is not None
    assert launch.total == 64 * 96 * 1024 * 1024 == 6_442_450_944 > INT32_MAX
    assert launch.scalar_arguments() == (6_442_450_944, 96, 1024, 1024, 5)
    assert launch.blocks == MAX_BLOCKS and launch.blocks * launch.threads < launch.total
    assert launch.name_expression == "kernel_conv2d_grad_kernel<float>"
    assert launch.name_expression in name_expressions()


def test_plans_refuse_what_the_kernels_cannot_hold() -> None:
    assert plan_launch("kernel_conv2d_forward", (0, 3, 4, 4), "float", 5) is None
    with pytest.raises(ValueError, match="int arguments"):
        plan_launch("kernel_conv2d_forward", (1, 1, 1, 2**31), "float", 3)
    with pytest.raises(ValueError, match="int arguments"):
        plan_launch("kernel_conv2d_forward", (1, 2**27, 1, 1), "float", 5)  # C*K*K taps
    with pytest.raises(ValueError, match="64-bit"):
        plan_launch("kernel_conv2d_forward", (2**20, 2**20, 2**12, 2**12), "float", 3)
    with pytest.raises(ValueError, match="odd"):
        plan_launch("kernel_conv2d_forward", (1, 1, 4, 4), "float", 4)
    with pytest.raises(ValueError, match="compiled for"):
        plan_launch("kernel_conv2d_forward", (1, 1, 4, 4), "half", 3)
    with pytest.raises(ValueError, match="unknown kernel"):
        plan_launch("kernel_conv2d_backward", (1, 1, 4, 4), "float", 3)


def test_run_kernel_refuses_strided_or_mixed_operands() -> None:
    grid = torch.zeros(1, 2, 4, 4)
    with pytest.raises(ValueError, match="contiguous"):
        run_kernel(lambda *a: None, "kernel_conv2d_forward", grid, (grid.transpose(2, 3), grid, grid), 3)
    with pytest.raises(ValueError, match="one dtype"):
        run_kernel(lambda *a: None, "kernel_conv2d_forward", grid, (grid.double(), grid, grid), 3)


def test_each_kernel_gets_its_grid_and_operands_in_order() -> None:
    """Forward walks the output, both gradients walk the input; operands as KERNEL_OPERANDS lists them."""
    k, shape = 3, (2, 3, 5, 4)
    input, kernel = _random_case(shape, k, torch.float64, seed=1)
    input = input.transpose(2, 3).contiguous().transpose(2, 3).requires_grad_()  # strided on purpose
    kernel.requires_grad_()
    seen: dict[str, tuple[KernelLaunch, tuple[torch.Tensor, ...]]] = {}

    def recording(launch: KernelLaunch, operands: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        seen[launch.name] = (launch, tuple(t.detach().clone() for t in operands))
        operands[2].zero_()

    grad_output = torch.randn(shape, dtype=torch.float64)
    kernel_conv2d_launched(input, kernel, k, recording).backward(grad_output)
    values = {"input": input.detach(), "kernel": kernel.detach(), "grad_output": grad_output}
    for name, roles in KERNEL_OPERANDS.items():
        launch, operands = seen[name]
        assert (launch.total, launch.channels, launch.height, launch.width) == (120, 3, 5, 4), name
        assert launch.type_name == "double" and launch.kernel_size == k
        assert launch.blocks == block_count(120) and launch.threads == THREADS_PER_BLOCK
        for role, operand in zip(roles[:2], operands[:2], strict=True):
            assert torch.equal(operand, values[role]), (name, role)
        assert operands[2].shape == (kernel.shape if roles[2] == "grad_kernel" else input.shape)
    assert input.grad is not None and kernel.grad is not None


def test_the_kernels_folder_is_what_is_compiled() -> None:
    assert SOURCE == REPO_ROOT / "glfcr_qgis" / "kernels" / "kernel_conv2d.cu" and SOURCE.is_file()
