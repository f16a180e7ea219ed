"""Prediction settings: exact float32 by default, reduced precision only where it keeps 45 dB."""

from __future__ import annotations

import math

import pytest
import torch
from network_fixtures import REFERENCE_CHECKPOINT, reference_io, require_reference_checkpoint

from glfcr_qgis.core import DeviceError
from glfcr_qgis.core.model.inference import predict, prepare_model


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return prepare_model(REFERENCE_CHECKPOINT, "cpu")


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / ((a - b) ** 2).mean().item())


def test_float32_is_the_reference_output(model: torch.nn.Module) -> None:
    io = reference_io()
    output = predict(model, io["cloudy"], io["sar"])
    assert output.dtype == torch.float32 and not output.requires_grad
    assert (output - io["output"]).abs().max().item() <= 1e-4


def test_bfloat16_on_cpu_holds_45_db_against_float32(model: torch.nn.Module) -> None:
    io = reference_io()
    output = predict(model, io["cloudy"], io["sar"], precision="bfloat16")
    assert output.dtype == torch.float32
    assert _psnr(output, io["output"]) >= 45.0


def test_float16_is_refused_on_cpu(model: torch.nn.Module) -> None:
    with pytest.raises(DeviceError, match="only on CUDA"):
        predict(model, torch.zeros(1, 13, 16, 16), torch.zeros(1, 2, 16, 16), precision="float16")
    with pytest.raises(ValueError, match="precision must be one of"):
        predict(model, torch.zeros(1, 13, 16, 16), torch.zeros(1, 2, 16, 16), precision="int8")


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
