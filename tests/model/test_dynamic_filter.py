"""The dynamic filter (the authors' KernelConv2D) on CPU, and its CuPy kernels on CUDA."""

from __future__ import annotations

import pytest
import torch
from paths import SHARED_DIR

from glfcr_qgis.core import kernel_conv2d
from glfcr_qgis.core.model.dynamic_filter import kernel_conv2d_torch


def _cases() -> list[dict]:
    return torch.load(SHARED_DIR / "reference" / "kernelconv_reference.pt", weights_only=True)


def _unfold_reference(input: torch.Tensor, kernel: torch.Tensor, k: int) -> torch.Tensor:
    b, c, h, w = input.shape
    half = (k - 1) // 2
    padded = torch.nn.functional.pad(input, (half,) * 4, mode="replicate")
    cols = torch.nn.functional.unfold(padded, k).view(b, c, k * k, h, w)
    return (cols * kernel.view(b, c, k * k, h, w)).sum(2)


def test_matches_reference_cases() -> None:
    for case in _cases():
        output = kernel_conv2d(case["input"], case["kernel"], case["K"])
        assert (output - case["output"]).abs().max().item() <= 1e-5, case["K"]


# (2, 2, 5, 6) with k=5: two images, two channels, borders on every side and interior pixels whose whole
# window is inside, at half the numerical Jacobian of (2, 3, 6, 7)
@pytest.mark.parametrize(("k", "shape"), [(5, (2, 2, 5, 6)), (3, (1, 2, 1, 4)), (5, (1, 1, 2, 2))])
def test_gradcheck_float64(k: int, shape: tuple[int, ...]) -> None:
    generator = torch.Generator().manual_seed(k)
    b, c, h, w = shape
    input = torch.randn(shape, dtype=torch.float64, generator=generator, requires_grad=True)
    kernel = torch.randn(b, c * k * k, h, w, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, f: kernel_conv2d_torch(x, f, k), (input, kernel))


def test_equals_unfolded_formulation_on_random_data() -> None:
    generator = torch.Generator().manual_seed(0)
    input = torch.randn(2, 4, 9, 11, generator=generator)
    kernel = torch.randn(2, 4 * 25, 9, 11, generator=generator)
    assert (kernel_conv2d(input, kernel, 5) - _unfold_reference(input, kernel, 5)).abs().max() <= 1e-5


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="kernel must have shape"):
        kernel_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(1, 49, 4, 4), 5)
    with pytest.raises(ValueError, match="odd"):
        kernel_conv2d(torch.zeros(1, 2, 4, 4), torch.zeros(1, 32, 4, 4), 4)


cuda = pytest.mark.gpu


@cuda
@pytest.mark.parametrize("case_index", [0, 1])
def test_cupy_forward_matches_reference_and_torch_path(case_index: int) -> None:
    from glfcr_qgis.kernels import cupy_available
    from glfcr_qgis.kernels.kernel_conv2d import kernel_conv2d_cupy

    assert cupy_available(), "CUDA is present but CuPy is not: the fused kernel would not be used"
    case = _cases()[case_index]
    input, kernel = case["input"].cuda(), case["kernel"].cuda()
    output = kernel_conv2d_cupy(input, kernel, case["K"])
    assert (output.cpu() - case["output"]).abs().max().item() <= 1e-5
    assert (output - kernel_conv2d_torch(input, kernel, case["K"])).abs().max().item() <= 1e-5


@cuda
@pytest.mark.parametrize(("k", "shape"), [(5, (2, 96, 64, 64)), (3, (1, 5, 1, 7)), (5, (3, 4, 17, 9))])
def test_cupy_gradients_match_torch_path(k: int, shape: tuple[int, ...]) -> None:
    from glfcr_qgis.kernels.kernel_conv2d import kernel_conv2d_cupy

    generator = torch.Generator(device="cuda").manual_seed(k)
    b, c, h, w = shape
    input = torch.randn(shape, device="cuda", generator=generator)
    kernel = torch.randn(b, c * k * k, h, w, device="cuda", generator=generator)
    grad = torch.randn(shape, device="cuda", generator=generator)
    results = []
    for function in (kernel_conv2d_cupy, kernel_conv2d_torch):
        x = input.clone().requires_grad_()
        f = kernel.clone().requires_grad_()
        out = function(x, f, k)
        out.backward(grad)
        results.append((out.detach(), x.grad, f.grad))
    for ours, torch_path in zip(*results):
        assert (ours - torch_path).abs().max().item() <= 1e-4 * max(1.0, torch_path.abs().max().item())


@cuda
def test_cupy_gradcheck_float64() -> None:
    from glfcr_qgis.kernels.kernel_conv2d import kernel_conv2d_cupy

    generator = torch.Generator(device="cuda").manual_seed(1)
    input = torch.randn(1, 2, 5, 6, dtype=torch.float64, device="cuda", generator=generator, requires_grad=True)
    kernel = torch.randn(1, 50, 5, 6, dtype=torch.float64, device="cuda", generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, f: kernel_conv2d_cupy(x, f, 5), (input, kernel))


@cuda
def test_dispatch_uses_cupy_for_cuda_tensors(monkeypatch: pytest.MonkeyPatch) -> None:
    import glfcr_qgis.kernels.kernel_conv2d as cupy_path

    calls = []
    original = cupy_path.kernel_conv2d_cupy
    monkeypatch.setattr(cupy_path, "kernel_conv2d_cupy", lambda *a: calls.append(1) or original(*a))
    kernel_conv2d(torch.zeros(1, 1, 4, 4, device="cuda"), torch.zeros(1, 25, 4, 4, device="cuda"), 5)
    assert calls


@cuda
def test_network_reference_on_cuda() -> None:
    from network_fixtures import REFERENCE_CHECKPOINT, reference_io, require_reference_checkpoint

    from glfcr_qgis.core import load_model

    require_reference_checkpoint()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = load_model(REFERENCE_CHECKPOINT, device="cuda")
    io = reference_io()
    with torch.inference_mode():
        output = model(io["cloudy"].cuda(), io["sar"].cuda()).cpu()
    assert (output - io["output"]).abs().max().item() <= 1e-4


def test_fused_filter_generation_equals_conv_then_filter() -> None:
    from glfcr_qgis.core.model.dynamic_filter import generate_and_apply_filters

    generator = torch.Generator().manual_seed(2)
    channels, features, k = 5, 7, 5
    conv = torch.nn.Conv2d(features, channels * k * k, 1)
    input = torch.randn(2, channels, 9, 6, generator=generator)
    hidden = torch.randn(2, features, 9, 6, generator=generator)
    with torch.no_grad():
        expected = kernel_conv2d_torch(input, torch.nn.functional.leaky_relu(conv(hidden), 0.1), k)
        for chunk in (1, 2, 8):
            fused = generate_and_apply_filters(input, hidden, conv.weight, conv.bias, k, 0.1, channel_chunk=chunk)
            assert (fused - expected).abs().max().item() <= 1e-5
