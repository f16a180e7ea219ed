"""Remove Clouds on whole scenes: tiling, blending, alignment, nodata, output format, failures (core)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.ndimage
import torch
from rasterio.transform import from_origin
from scene_rasters import (
    ORIGIN,
    PIXEL,
    optical_dn,
    reproject_raster,
    sar_db,
    single_thread_torch,  # noqa: F401  (fixture)
    write_raster,
    write_scene,
)
from torch import nn

import glfcr_qgis.core as core
from glfcr_qgis.core.errors import (
    CheckpointError,
    DeviceError,
    GlfcrWarning,
    InputRasterError,
    NoOverlapError,
    OutputWriteError,
    ParameterValueError,
    ProcessingCanceled,
    RasterReadError,
    TileSizeError,
)
from glfcr_qgis.core.io.normalization import S2_L1C_BANDS, normalize_optical, normalize_sar
from glfcr_qgis.core.model.device import cpu_runs_bfloat16_natively
from glfcr_qgis.core.scene.cloud_detector import (
    CLOUD,
    SHADOW,
    cloud_shadow_mask,
    shadow_statistics,
    window_cloud_shadow_mask,
)
from glfcr_qgis.core.scene.keep_clear import KEEP_CLEAR_FEATHER, ClearPixelShare
from glfcr_qgis.core.scene.pipeline import remove_clouds

HEIGHT, WIDTH = 75, 100
EMULATED_BFLOAT16 = "this CPU has neither AVX-512 BF16 nor AMX: bfloat16 is refused here, float32 is faster"


class PointwiseStandIn(nn.Module):
    """A fixed per-pixel function of the inputs: any tiling must reproduce it exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.tile_shapes: list[tuple[int, ...]] = []
        self.inputs: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, cloudy: torch.Tensor, sar: torch.Tensor) -> torch.Tensor:
        assert cloudy.shape[2] % 16 == 0 and cloudy.shape[3] % 16 == 0
        assert torch.isfinite(cloudy).all() and torch.isfinite(sar).all()
        self.tile_shapes.append(tuple(cloudy.shape))
        self.inputs.append((cloudy.clone(), sar.clone()))
        return 0.8 * cloudy + 0.05 * sar[:, :1] + 0.02 * sar[:, 1:]


def pointwise_dn(optical: np.ndarray, sar: np.ndarray) -> np.ndarray:
    """What ``PointwiseStandIn`` gives on the whole scene, in DN: float32 (13, H, W)."""
    cloudy, backscatter = normalize_optical(optical), normalize_sar(sar)
    return (0.8 * cloudy + 0.05 * backscatter[:1] + 0.02 * backscatter[1:]) * 10000.0


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read()


def leftovers(folder: Path, *keep: Path) -> list[str]:
    """Files in ``folder`` other than ``keep`` (temporary or partial outputs left behind)."""
    return sorted(p.name for p in folder.iterdir() if p not in keep)


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, Path]:
    return write_scene(tmp_path, HEIGHT, WIDTH)


def test_public_api_is_the_function() -> None:
    # the package attribute itself is the module once the module was imported by name (import system rule)
    assert core.__getattr__("remove_clouds") is remove_clouds


@pytest.mark.parametrize(
    ("tile_size", "overlap", "batch_size"),
    [(32, 0, 1), (32, 8, 3), (32, 15, 2), (48, 0, 4), (48, 15, 1), (16, 7, 5), (256, 32, 1)],
)
def test_tiled_result_equals_the_whole_image_result(
    tmp_path: Path, scene: tuple[Path, Path], tile_size: int, overlap: int, batch_size: int
) -> None:
    optical, sar = scene
    model = PointwiseStandIn()
    result = remove_clouds(
        optical,
        sar,
        model,
        tmp_path / "out.tif",
        tile_size=tile_size,
        overlap=overlap,
        batch_size=batch_size,
        device="cpu",
        output_type="Float32",
    )
    expected = pointwise_dn(read(optical), read(sar))
    np.testing.assert_allclose(read(result.output_path), expected, atol=1e-5 * 10000)
    assert result.tiles == result.tiles_run == sum(shape[0] for shape in model.tile_shapes)
    assert max(shape[0] for shape in model.tile_shapes) <= batch_size
    assert result.overlap_cost >= 1.0 and result.valid_fraction == 1.0


@pytest.mark.slow
@pytest.mark.usefixtures("single_thread_torch")
def test_a_single_tile_scene_gives_the_networks_output(tmp_path: Path, shared_dir: Path) -> None:
    """The authors' network on the reference 128x128 crop, through files, equals its recorded output."""
    sample = "ROIs2017_winter_112_p797.tif"
    crops = {}
    for folder in ("s2_cloudy", "s1"):
        with rasterio.open(shared_dir / "data" / "sen12mscr_samples" / folder / sample) as src:
            window = rasterio.windows.Window(64, 64, 128, 128)
            crops[folder] = write_raster(
                tmp_path / f"{folder}.tif",
                src.read(window=window),
                transform=src.window_transform(window),
                crs=src.crs,
            )
    reference = torch.load(shared_dir / "reference" / "glfcr_reference_io.pt", weights_only=True)
    result = remove_clouds(
        crops["s2_cloudy"],
        crops["s1"],
        shared_dir / "reference" / "glfcr_random_ckpt.pth",
        tmp_path / "out.tif",
        tile_size=256,
        overlap=32,
        device="cpu",
        output_type="Float32",
    )
    assert (result.tiles, result.tile_size) == (1, 128)
    np.testing.assert_allclose(read(result.output_path) / 10000.0, reference["output"][0].numpy(), atol=1e-5)
    with rasterio.open(result.output_path) as out:
        assert (
            out.tags()["checkpoint_sha256"] == result.checkpoint_sha256
            and len(result.checkpoint_sha256) == 64
        )


def test_output_keeps_the_optical_grid_and_describes_itself(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    result = remove_clouds(
        optical, sar, PointwiseStandIn(), tmp_path / "out.tif", tile_size=48, overlap=8, device="cpu"
    )
    with rasterio.open(optical) as src, rasterio.open(result.output_path) as out:
        assert (out.crs, out.transform, out.width, out.height) == (
            src.crs,
            src.transform,
            src.width,
            src.height,
        )
        assert out.count == 13 and out.descriptions == S2_L1C_BANDS
        assert out.dtypes[0] == "uint16" and out.nodata == 0
        assert out.profile["compress"] == "deflate" and out.profile["blockxsize"] == 512
        assert out.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == "2"
        tags = out.tags()
    assert tags["model"] == "GLF-CR" and tags["tile_size"] == "48" and tags["overlap"] == "8"
    assert tags["software_version"].startswith("glfcr_qgis ") and "checkpoint_sha256" not in tags
    assert set(vars(result.timings)) == {"mask", "read", "infer", "blend", "write"}
    assert leftovers(tmp_path, optical, sar, result.output_path) == []


def test_uint16_output_is_rounded_and_clipped(tmp_path: Path) -> None:
    class Extremes(nn.Module):
        def forward(self, cloudy: torch.Tensor, sar: torch.Tensor) -> torch.Tensor:
            out = cloudy.clone()
            out[:, 0] = 7.0  # 70000 DN -> 65535
            out[:, 1] = -0.5  # -> 0, nudged to 1 because 0 is nodata
            out[:, 2] = 0.12344  # 1234.4 DN -> 1234
            return out

    optical, sar = write_scene(tmp_path, 20, 24)
    out = read(remove_clouds(optical, sar, Extremes(), tmp_path / "out.tif", device="cpu").output_path)
    assert (out[0] == 65535).all() and (out[1] == 1).all() and (out[2] == 1234).all()


def test_nodata_in_either_input_is_filled_for_the_network_and_written_as_nodata(tmp_path: Path) -> None:
    optical_values = optical_dn(48, 48)
    optical_values[:, 5:8, 5:9] = 0  # declared nodata
    sar_values = sar_db(48, 48)
    sar_values[:, 30, 20:25] = np.nan
    optical = write_raster(tmp_path / "cloudy.tif", optical_values, nodata=0)
    sar = write_raster(tmp_path / "sar.tif", sar_values)
    model = PointwiseStandIn()
    result = remove_clouds(
        optical,
        sar,
        model,
        tmp_path / "out.tif",
        tile_size=48,
        overlap=0,
        device="cpu",
        output_type="Float32",
    )
    out = read(result.output_path)
    missing = np.zeros((48, 48), bool)
    missing[5:8, 5:9] = True
    missing[30, 20:25] = True
    with rasterio.open(result.output_path) as dataset:
        assert dataset.nodata == 0  # the optical input's nodata
    assert (out[:, missing] == 0).all()
    np.testing.assert_allclose(
        out[:, ~missing], pointwise_dn(optical_values, sar_values)[:, ~missing], atol=0.1
    )
    assert result.valid_fraction == pytest.approx(1 - missing.sum() / missing.size)
    # gaps reach the network filled with the mean of the tile's valid values (all bands), as the authors do
    ((cloudy, backscatter),) = model.inputs
    optical_mean = optical_values[:, optical_values[0] != 0].astype(np.float64).mean()
    assert cloudy[0, :, 6, 6].numpy() == pytest.approx(np.full(13, optical_mean / 10000.0), abs=1e-6)
    expected_sar = normalize_sar(np.full((2, 1), np.nanmean(sar_values), dtype=np.float32))[:, 0]
    np.testing.assert_allclose(backscatter[0, :, 30, 22].numpy(), expected_sar, atol=1e-6)


def test_float32_output_without_input_nodata_uses_nan(tmp_path: Path) -> None:
    sar_values = sar_db(20, 24)
    sar_values[:, 0, 0] = np.nan
    optical = write_raster(tmp_path / "cloudy.tif", optical_dn(20, 24))
    sar = write_raster(tmp_path / "sar.tif", sar_values)
    result = remove_clouds(
        optical, sar, PointwiseStandIn(), tmp_path / "out.tif", device="cpu", output_type="Float32"
    )
    out = read(result.output_path)
    assert np.isnan(out[:, 0, 0]).all() and np.isfinite(out[:, 1:, :]).all()


def test_sar_in_another_crs_runs_on_the_optical_grid(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    warped = reproject_raster(sar, tmp_path / "sar_3857.tif", "EPSG:3857")
    model = PointwiseStandIn()
    result = remove_clouds(
        optical, warped, model, tmp_path / "out.tif", tile_size=32, overlap=8, device="cpu"
    )
    assert result.sar_resampled
    with rasterio.open(optical) as src, rasterio.open(result.output_path) as out:
        assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)
        values = out.read()
    assert result.covered_fraction > 0.95
    assert (values[:, 2:-2, 2:-2] > 0).all()  # interior fully covered (edges may fall outside the warped SAR)


def test_partial_sar_coverage_warns_and_writes_nodata_outside(tmp_path: Path) -> None:
    optical = write_raster(tmp_path / "cloudy.tif", optical_dn(32, 64))
    left_half = write_raster(tmp_path / "sar.tif", sar_db(32, 32))  # same origin and pixel size, half as wide
    with pytest.warns(GlfcrWarning, match=r"covers only about 50\.0%"):
        result = remove_clouds(
            optical,
            left_half,
            PointwiseStandIn(),
            tmp_path / "out.tif",
            tile_size=32,
            overlap=0,
            device="cpu",
        )
    out = read(result.output_path)
    assert (out[:, :, 33:] == 0).all() and (out[:, :, :31] > 0).all()
    assert result.covered_fraction == pytest.approx(0.5, abs=0.02)


def test_optical_band_descriptions_in_another_order_warn_and_sar_bands_are_found_by_name(
    tmp_path: Path,
) -> None:
    optical_values = optical_dn(16, 16)
    reversed_names = [f"B{i:02d}" for i in range(12, 0, -1)] + ["B8A"]
    optical = write_raster(tmp_path / "cloudy.tif", optical_values, descriptions=reversed_names)
    sar_values = sar_db(16, 16)
    # VH first: the SAR bands are picked by their names, not their positions
    sar = write_raster(tmp_path / "sar.tif", sar_values[::-1].copy(), descriptions=["VH", "VV"])
    with pytest.warns(GlfcrWarning) as record:
        result = remove_clouds(
            optical, sar, PointwiseStandIn(), tmp_path / "out.tif", device="cpu", output_type="Float32"
        )
    messages = " ".join(str(w.message) for w in record)
    assert "band 1 is described as 'B12'" in messages and "SAR" not in messages
    np.testing.assert_allclose(read(result.output_path), pointwise_dn(optical_values, sar_values), atol=0.1)


def test_band_descriptions_in_the_right_order_do_not_warn(tmp_path: Path) -> None:
    optical = write_raster(
        tmp_path / "cloudy.tif", optical_dn(16, 16), descriptions=["B01 aerosol", *S2_L1C_BANDS[1:]]
    )
    sar = write_raster(tmp_path / "sar.tif", sar_db(16, 16), descriptions=["VV", "VH"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", GlfcrWarning)
        remove_clouds(optical, sar, PointwiseStandIn(), tmp_path / "out.tif", device="cpu")


def test_reads_stay_within_one_tile_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Bounded memory: a tall scene is read in windows no taller than a tile, never whole."""
    from glfcr_qgis.core.scene import strip_runner as module

    heights: list[int] = []
    original = module.read_window

    def recording_read(dataset, window, *, role):  # noqa: ANN001, ANN202
        heights.append(int(window.height))
        return original(dataset, window, role=role)

    monkeypatch.setattr(module, "read_window", recording_read)
    optical, sar = write_scene(tmp_path, 300, 20)
    remove_clouds(
        optical, sar, PointwiseStandIn(), tmp_path / "out.tif", tile_size=32, overlap=4, device="cpu"
    )
    assert len(heights) == 11 and max(heights) == 32


def test_keep_clear_keeps_clear_pixels_and_feathers_into_clouds(tmp_path: Path) -> None:
    dn = optical_dn(48, 64, seed=3) // 8  # dark, clear ground
    dn[:, 10:30, 20:40] = 6000  # a bright cloud (B1, B2, visible sum, B10 all high)
    dn[11, 10:30, 20:40] = 1000  # B11 low enough that the snow test does not veto it
    optical = write_raster(tmp_path / "cloudy.tif", dn.astype(np.uint16))
    sar = write_raster(tmp_path / "sar.tif", sar_db(48, 64))
    result = remove_clouds(
        optical,
        sar,
        PointwiseStandIn(),
        tmp_path / "out.tif",
        tile_size=16,
        overlap=4,
        device="cpu",
        output_type="Float32",
        keep_clear=True,
    )
    out = read(result.output_path)
    classes, _ = cloud_shadow_mask(dn)
    cloudy = (classes == CLOUD) | (classes == SHADOW)
    assert cloudy[15:25, 25:35].all() and not cloudy.all()
    share = np.clip(1.0 - scipy.ndimage.distance_transform_edt(~cloudy) / KEEP_CLEAR_FEATHER, 0.0, 1.0)
    predicted = pointwise_dn(dn, read(sar))
    np.testing.assert_allclose(out, share * predicted + (1 - share) * dn, atol=0.05)
    far = share == 0
    np.testing.assert_array_equal(out[:, far], dn[:, far].astype(np.float32))  # untouched
    assert result.timings.mask > 0


def test_clear_pixel_share_does_not_depend_on_the_strip(tmp_path: Path) -> None:
    dn = optical_dn(60, 30, seed=5) // 8
    dn[:, 25:32, 5:12] = 6000
    dn[11, 25:32, 5:12] = 1000
    path = write_raster(tmp_path / "cloudy.tif", dn.astype(np.uint16))
    classes, _ = cloud_shadow_mask(dn)
    with rasterio.open(path) as dataset:
        stats = shadow_statistics(dn)
        share = ClearPixelShare(dataset, lambda window: window_cloud_shadow_mask(dataset, window, stats))
        whole = share(0, 60)
        np.testing.assert_array_equal(np.concatenate([share(0, 20), share(20, 7), share(27, 33)]), whole)
    assert (whole[(classes == CLOUD) | (classes == SHADOW)] == 1).all()


def test_cog_output(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    result = remove_clouds(
        optical,
        sar,
        PointwiseStandIn(),
        tmp_path / "out.tif",
        tile_size=64,
        overlap=8,
        device="cpu",
        cog=True,
    )
    with rasterio.open(result.output_path) as out:
        assert out.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert out.descriptions == S2_L1C_BANDS and out.tags()["model"] == "GLF-CR"
    assert leftovers(tmp_path, optical, sar, result.output_path) == []


def test_progress_rises_to_one_and_cancel_leaves_nothing(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    fractions: list[float] = []
    remove_clouds(
        optical,
        sar,
        PointwiseStandIn(),
        tmp_path / "a.tif",
        tile_size=32,
        overlap=0,
        device="cpu",
        progress=fractions.append,
    )
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 12
    calls = []
    with pytest.raises(ProcessingCanceled):
        remove_clouds(
            optical,
            sar,
            PointwiseStandIn(),
            tmp_path / "b.tif",
            tile_size=32,
            overlap=0,
            device="cpu",
            is_canceled=lambda: calls.append(1) or len(calls) > 2,
        )
    assert len(calls) == 3  # stopped at the first batch after the request
    assert leftovers(tmp_path, optical, sar, tmp_path / "a.tif") == []


def test_cancel_during_the_keep_clear_mask_pass_stops_before_its_next_block(tmp_path: Path) -> None:
    # 1100 rows: two blocks of the mask pass (1024 rows each), so a press between them is seen there
    optical, sar = write_scene(tmp_path, 1100, 16)
    fractions: list[float] = []
    model = PointwiseStandIn()
    with pytest.raises(ProcessingCanceled):
        remove_clouds(
            optical, sar, model, tmp_path / "out.tif", tile_size=16, overlap=0, device="cpu", keep_clear=True,
            progress=fractions.append, is_canceled=lambda: bool(fractions),
        )  # fmt: skip
    # the mask pass moved the bar after its first block (its share of the run is 10 %), then stopped
    assert fractions == [pytest.approx(0.05)]
    assert not model.tile_shapes and leftovers(tmp_path, optical, sar) == []


# --- failures: a clear error and nothing written -------------------------------------------------------


def test_twelve_band_optical_is_refused_with_the_l1c_hint(tmp_path: Path) -> None:
    optical = write_raster(tmp_path / "l2a.tif", optical_dn(16, 16, bands=12))
    sar = write_raster(tmp_path / "sar.tif", sar_db(16, 16))
    with pytest.raises(InputRasterError, match="L2A products lack B10"):
        remove_clouds(optical, sar, PointwiseStandIn(), tmp_path / "out.tif", device="cpu")
    assert leftovers(tmp_path, optical, sar) == []


def test_sar_with_wrong_band_count_is_refused(tmp_path: Path) -> None:
    optical = write_raster(tmp_path / "cloudy.tif", optical_dn(16, 16))
    sar = write_raster(tmp_path / "sar.tif", sar_db(16, 16)[:1])
    with pytest.raises(InputRasterError, match="has 1 backscatter band; GLF-CR needs VV and VH"):
        remove_clouds(optical, sar, PointwiseStandIn(), tmp_path / "out.tif", device="cpu")


def test_unreadable_raster_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a raster")
    sar = write_raster(tmp_path / "sar.tif", sar_db(16, 16))
    with pytest.raises(RasterReadError, match="broken.tif"):
        remove_clouds(broken, sar, PointwiseStandIn(), tmp_path / "out.tif", device="cpu")
    assert not (tmp_path / "out.tif").exists()


def test_no_overlap_fails_before_loading_the_weights(tmp_path: Path) -> None:
    optical = write_raster(tmp_path / "cloudy.tif", optical_dn(16, 16))
    sar = write_raster(
        tmp_path / "sar.tif", sar_db(16, 16), transform=from_origin(ORIGIN[0] + 1e5, ORIGIN[1], PIXEL, PIXEL)
    )
    with pytest.raises(NoOverlapError):
        remove_clouds(optical, sar, tmp_path / "missing.pth", tmp_path / "out.tif", device="cpu")
    assert leftovers(tmp_path, optical, sar) == []


@pytest.mark.parametrize(
    ("tile_size", "overlap", "error"), [(100, 0, TileSizeError), (64, 32, TileSizeError)]
)
def test_bad_tiling_is_refused(
    tmp_path: Path, scene: tuple[Path, Path], tile_size: int, overlap: int, error: type
) -> None:
    optical, sar = scene
    with pytest.raises(error):
        remove_clouds(
            optical, sar, PointwiseStandIn(), tmp_path / "out.tif", tile_size=tile_size, overlap=overlap
        )


@pytest.mark.skipif(not cpu_runs_bfloat16_natively(), reason=EMULATED_BFLOAT16)
def test_reduced_precision_runs_and_is_recorded(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    result = remove_clouds(
        optical, sar, PointwiseStandIn(), tmp_path / "out.tif", tile_size=64, overlap=8, device="cpu",
        output_type="Float32", precision="bfloat16",
    )  # fmt: skip
    with rasterio.open(result.output_path) as out:
        assert out.tags()["precision"] == "bfloat16"
        values = out.read()
    # bfloat16 keeps 8 bits of mantissa: about 0.4 % of the value
    np.testing.assert_allclose(values, pointwise_dn(read(optical), read(sar)), rtol=0.01, atol=1.0)


@pytest.mark.skipif(cpu_runs_bfloat16_natively(), reason="this CPU runs bfloat16 natively")
def test_bfloat16_on_a_cpu_that_emulates_it_is_refused_before_the_run(
    tmp_path: Path, scene: tuple[Path, Path]
) -> None:
    optical, sar = scene
    model = PointwiseStandIn()
    with pytest.raises(ParameterValueError, match="float32 is faster on this CPU"):
        remove_clouds(optical, sar, model, tmp_path / "out.tif", device="cpu", precision="bfloat16")
    assert not model.tile_shapes and leftovers(tmp_path, optical, sar) == []


def test_bad_batch_size_and_output_type_are_refused(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    with pytest.raises(ParameterValueError, match="Batch size"):
        remove_clouds(optical, sar, PointwiseStandIn(), tmp_path / "out.tif", batch_size=0)
    with pytest.raises(ParameterValueError, match="UInt16, Float32"):
        remove_clouds(optical, sar, PointwiseStandIn(), tmp_path / "out.tif", output_type="Byte")
    with pytest.raises(ParameterValueError, match="bfloat16"):
        remove_clouds(optical, sar, PointwiseStandIn(), tmp_path / "out.tif", precision="int8")


@pytest.mark.parametrize("content", [b"garbage, not a checkpoint", None])
def test_unreadable_or_foreign_checkpoint_is_refused(
    tmp_path: Path, scene: tuple[Path, Path], content: bytes | None
) -> None:
    optical, sar = scene
    weights = tmp_path / "weights.pth"
    if content is None:
        torch.save({"network": {"encoder.weight": torch.zeros(3)}}, weights)
    else:
        weights.write_bytes(content)
    with pytest.raises(CheckpointError):
        remove_clouds(optical, sar, weights, tmp_path / "out.tif", device="cpu")
    assert leftovers(tmp_path, optical, sar, weights) == []


def test_unwritable_output_is_refused(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(OutputWriteError):
        remove_clouds(optical, sar, PointwiseStandIn(), blocker / "out.tif", device="cpu")
    with pytest.raises(OutputWriteError, match=r"\.tif"):
        remove_clouds(optical, sar, PointwiseStandIn(), tmp_path / "out.png", device="cpu")
    with pytest.raises(OutputWriteError, match="also an input"):
        remove_clouds(optical, sar, PointwiseStandIn(), optical, device="cpu")
    assert leftovers(tmp_path, optical, sar, blocker) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_refused_before_writing(tmp_path: Path, scene: tuple[Path, Path]) -> None:
    optical, sar = scene
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        remove_clouds(optical, sar, PointwiseStandIn(), tmp_path / "out.tif", device="cuda")
    assert leftovers(tmp_path, optical, sar) == []


def test_a_scene_without_any_valid_pixel_warns(tmp_path: Path) -> None:
    optical = write_raster(tmp_path / "cloudy.tif", np.zeros((13, 16, 16), np.uint16), nodata=0)
    sar = write_raster(tmp_path / "sar.tif", sar_db(16, 16))
    model = PointwiseStandIn()
    with pytest.warns(GlfcrWarning, match="nodata everywhere"):
        result = remove_clouds(optical, sar, model, tmp_path / "out.tif", device="cpu")
    assert result.tiles_run == 0 and not model.tile_shapes
    assert (read(result.output_path) == 0).all()
