"""Prediction settings: exact float32 by default, reduced precision only where it keeps 45 dB."""

from __future__ import annotations

import math

import pytest
import torch
from network_fixtures import REFERENCE_CHECKPOINT, reference_io, reference_model, require_reference_checkpoint

from glfcr_qgis.core import DeviceError, ParameterValueError, ProcessingCanceled
from glfcr_qgis.core.model.device import cpu_runs_bfloat16_natively
from glfcr_qgis.core.model.inference import predict, prepare_model
from glfcr_qgis.core.model.network import FORWARD_STAGES


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return reference_model()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / ((a - b) ** 2).mean().item())


def test_float32_is_the_networks_own_output(model: torch.nn.Module) -> None:
    # the network against the reference output: tests/model/test_network.py (one 128 px pass is enough)
    generator = torch.Generator().manual_seed(11)
    cloudy = torch.rand(1, 13, 32, 32, generator=generator)
    sar = torch.rand(1, 2, 32, 32, generator=generator)
    output = predict(model, cloudy, sar)
    assert output.dtype == torch.float32 and not output.requires_grad
    with torch.inference_mode():
        assert torch.equal(output, model(cloudy, sar))


@pytest.mark.skipif(
    not cpu_runs_bfloat16_natively(),
    reason="this CPU has neither AVX-512 BF16 nor AMX: bfloat16 is refused here, float32 is faster",
)
def test_bfloat16_on_cpu_holds_45_db_against_float32(model: torch.nn.Module) -> None:
    io = reference_io()
    output = predict(model, io["cloudy"], io["sar"], precision="bfloat16")
    assert output.dtype == torch.float32
    assert _psnr(output, io["output"]) >= 45.0


def test_float16_is_refused_on_cpu(model: torch.nn.Module) -> None:
    with pytest.raises(DeviceError, match="only on CUDA"):
        predict(model, torch.zeros(1, 13, 16, 16), torch.zeros(1, 2, 16, 16), precision="float16")
    with pytest.raises(ValueError, match="use one of float32, bfloat16, float16"):
        predict(model, torch.zeros(1, 13, 16, 16), torch.zeros(1, 2, 16, 16), precision="int8")


@pytest.mark.skipif(cpu_runs_bfloat16_natively(), reason="this CPU runs bfloat16 natively")
def test_bfloat16_is_refused_on_a_cpu_that_emulates_it(model: torch.nn.Module) -> None:
    with pytest.raises(ParameterValueError, match="float32 is faster on this CPU"):
        predict(model, torch.zeros(1, 13, 16, 16), torch.zeros(1, 2, 16, 16), precision="bfloat16")


def test_progress_is_reported_after_every_block_and_a_raise_stops_the_pass(model: torch.nn.Module) -> None:
    generator = torch.Generator().manual_seed(7)
    cloudy = torch.rand(1, 13, 16, 16, generator=generator)
    sar = torch.rand(1, 2, 16, 16, generator=generator)
    fractions: list[float] = []
    output = predict(model, cloudy, sar, on_step=fractions.append)
    assert torch.equal(output, predict(model, cloudy, sar))  # the callback changes nothing
    # shallow features, each of the six blocks and its SAR fusion, reconstruction
    assert fractions == [done / FORWARD_STAGES for done in range(1, FORWARD_STAGES + 1)]
    assert FORWARD_STAGES == 14

    def cancel_after_the_first_block(fraction: float) -> None:
        fractions.append(fraction)
        if fraction >= 2 / FORWARD_STAGES:
            raise ProcessingCanceled("canceled")

    fractions.clear()
    with pytest.raises(ProcessingCanceled):
        predict(model, cloudy, sar, on_step=cancel_after_the_first_block)
    assert fractions == [1 / FORWARD_STAGES, 2 / FORWARD_STAGES]


class CloudyPassThrough(torch.nn.Module):
    """A stand-in whose forward takes (cloudy, sar) only, as tests' models do."""

    def forward(self, cloudy: torch.Tensor, sar: torch.Tensor) -> torch.Tensor:
        return cloudy


def test_a_model_without_stages_reports_once() -> None:
    fractions: list[float] = []
    zeros = torch.zeros(1, 13, 16, 16), torch.zeros(1, 2, 16, 16)
    predict(CloudyPassThrough(), *zeros, on_step=fractions.append)
    assert fractions == [1.0]


def test_prepare_model_accepts_a_module() -> None:
    stand_in = torch.nn.Conv2d(13, 13, 1).train()
    assert not prepare_model(stand_in, "cpu").training


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_reduced_precision_on_cuda_holds_45_db(precision: str) -> None:
    require_reference_checkpoint()
    io = reference_io()
    cuda_model = prepare_model(REFERENCE_CHECKPOINT, "cuda")
    output = predict(cuda_model, io["cloudy"].cuda(), io["sar"].cuda(), precision=precision).cpu()
    assert _psnr(output, io["output"]) >= 45.0
