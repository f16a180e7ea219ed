"""Device names as users type them."""

from __future__ import annotations

import pytest
import torch

from glfcr_qgis.core import DeviceError, resolve_device


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error where there is no GPU")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_gpu_is_a_clear_error(name: str) -> None:
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        resolve_device(name)


@pytest.mark.parametrize("name", ["tpu", "gpu", "cuda:x"])
def test_unknown_names(name: str) -> None:
    with pytest.raises(DeviceError, match="'auto', 'cpu', 'cuda'"):
        resolve_device(name)


@pytest.mark.gpu
def test_cuda_index_out_of_range() -> None:
    with pytest.raises(DeviceError, match="does not exist"):
        resolve_device(f"cuda:{torch.cuda.device_count()}")
