"""The network computes what the authors' code computes, at the reference size and at others."""

from __future__ import annotations

import json

import pytest
import torch
from authors_glfcr import RDN_residual_CR
from network_fixtures import reference_io, reference_model, reference_state_dict
from paths import SHARED_DIR

from glfcr_qgis.core import GLFCR, TileSizeError
from glfcr_qgis.core.model.network import shifted_window_mask, window_layout, window_partition, window_reverse


@pytest.fixture(scope="module")
def model() -> GLFCR:
    return reference_model()


def test_reference_output_within_1e_4(model: GLFCR) -> None:
    io = reference_io()
    with torch.inference_mode():
        output = model(io["cloudy"], io["sar"])
    assert output.shape == (1, 13, 128, 128)
    assert (output - io["output"]).abs().max().item() <= 1e-4


def test_state_dict_keys_and_shapes_equal_the_authors() -> None:
    expected = json.loads((SHARED_DIR / "reference" / "glfcr_state_dict_shapes.json").read_text())
    state = GLFCR().state_dict()
    assert list(state) == list(expected)
    assert {key: list(value.shape) for key, value in state.items()} == expected
    learned = sum(value.numel() for key, value in GLFCR().named_parameters())
    assert learned == 14_827_373


@pytest.mark.parametrize("size", [(16, 16), (32, 32), (48, 48), (16, 48), (64, 32)])
def test_any_tile_size_equals_authors_network_built_for_that_size(model: GLFCR, size: tuple[int, int]) -> None:
    authors = RDN_residual_CR(size)
    # their masks are built for this size at construction; the learned weights are the reference's
    authors.load_state_dict({k: v for k, v in reference_state_dict().items() if not k.endswith("attn_mask")}, strict=False)
    authors.eval()
    generator = torch.Generator().manual_seed(sum(size))
    cloudy = torch.rand(2, 13, *size, generator=generator)
    sar = torch.rand(2, 2, *size, generator=generator)
    with torch.inference_mode():
        assert (model(cloudy, sar) - authors(cloudy, sar)).abs().max().item() <= 1e-5


def test_window_shrinks_and_shift_drops_for_16_pixel_tiles() -> None:
    assert window_layout(8, 8) == (8, 0)
    assert window_layout(8, 32) == (8, 0)
    assert window_layout(16, 16) == (8, 4)


def test_shifted_window_mask_of_128_tiles_equals_the_checkpoint_buffer() -> None:
    stored = reference_state_dict()["RDBs.0.convs.1.attn_mask"]
    assert torch.equal(shifted_window_mask(64, 64, 8, 4), stored)


def test_masks_are_cached_per_size(model: GLFCR) -> None:
    like = torch.zeros(1)
    first = model.attention_mask(32, 48, like)
    assert first is model.attention_mask(32, 48, like)
    assert first.shape == (4 * 6, 64, 64)
    assert model.attention_mask(8, 8, like) is None


def test_window_partition_round_trip() -> None:
    x = torch.arange(2 * 16 * 24 * 3, dtype=torch.float32).view(2, 16, 24, 3)
    windows = window_partition(x, 8)
    assert windows.shape == (2 * 2 * 3, 8, 8, 3)
    assert torch.equal(window_reverse(windows, 8, 16, 24), x)


@pytest.mark.parametrize("size", [(100, 128), (128, 8), (24, 32)])
def test_size_not_multiple_of_16_is_a_clear_error(model: GLFCR, size: tuple[int, int]) -> None:
    with pytest.raises(TileSizeError, match="multiples of 16"):
        model(torch.zeros(1, 13, *size), torch.zeros(1, 2, *size))


def test_wrong_band_counts_are_rejected(model: GLFCR) -> None:
    with pytest.raises(ValueError, match=r"\(B, 13, H, W\)"):
        model(torch.zeros(1, 12, 32, 32), torch.zeros(1, 2, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 2, H, W\)"):
        model(torch.zeros(1, 13, 32, 32), torch.zeros(1, 1, 32, 32))


def test_batch_equals_single_tiles(model: GLFCR) -> None:
    generator = torch.Generator().manual_seed(3)
    cloudy = torch.rand(3, 13, 32, 32, generator=generator)
    sar = torch.rand(3, 2, 32, 32, generator=generator)
    with torch.inference_mode():
        batched = model(cloudy, sar)
        single = torch.cat([model(cloudy[i : i + 1], sar[i : i + 1]) for i in range(3)])
    assert (batched - single).abs().max().item() <= 1e-5


def test_autograd_path_equals_inference_path_and_backpropagates(model: GLFCR) -> None:
    generator = torch.Generator().manual_seed(5)
    cloudy = torch.rand(1, 13, 32, 48, generator=generator)
    sar = torch.rand(1, 2, 32, 48, generator=generator)
    with torch.inference_mode():
        expected = model(cloudy, sar)
    output = model(cloudy, sar)
    assert output.requires_grad
    assert (output.detach() - expected).abs().max().item() <= 1e-5
    output.abs().mean().backward()
    table = model.RDBs[0].convs[1].attn.relative_position_bias_table
    assert table.grad is not None and table.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)


def test_core_functions_stay_callable_after_their_modules_load() -> None:
    import glfcr_qgis.core as core
    import glfcr_qgis.core.scene.cloud_detector  # noqa: F401  (binds the submodule on the package)
    import glfcr_qgis.core.scene.pipeline  # noqa: F401

    assert callable(core.remove_clouds) and core.remove_clouds.__name__ == "remove_clouds"
    assert callable(core.cloud_mask) and core.cloud_mask.__name__ == "cloud_mask"
