from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import scipy.ndimage
import scipy.signal
from rasterio.transform import from_origin
from rasterio.windows import Window

from glfcr_qgis.core.errors import (
    GlfcrWarning,
    InputRasterError,
    ParameterValueError,
    ProcessingCanceled,
    RasterReadError,
)
from glfcr_qgis.core.io.raster_io import nodata_mask
from glfcr_qgis.core.scene.cloud_detector import (
    CLEAR,
    CLOUD,
    MASK_NODATA,
    SCORE_NODATA,
    SHADOW,
    cloud_shadow_mask,
    scene_shadow_statistics,
    shadow_statistics,
    window_cloud_shadow_mask,
)
from glfcr_qgis.core.scene.cloud_masking import cloud_mask

SAMPLE = "ROIs2017_winter_112_p797"
CLOUDY_SAMPLE = "ROIs1970_fall_139_p839"  # has clouds at both thresholds; SAMPLE has shadow only


# ---- the authors' detector, verbatim (UnCRtainTS data/dataLoader.py, from DSen2-CR), as the oracle ----
def _authors_rescale(img, old_min, old_max):
    return (img - old_min) / (old_max - old_min)


def _authors_normalized_difference(channel1, channel2):
    subchan = channel1 - channel2
    sumchan = channel1 + channel2
    sumchan[sumchan == 0] = 0.001
    return subchan / sumchan


def _authors_shadow_mask(data_image):
    data_image = data_image / 10000.0
    (ch, r, c) = data_image.shape
    shadowmask = np.zeros((r, c)).astype("float32")
    BB = data_image[1]  # noqa: N806
    csi = (data_image[7] + data_image[11]) / 2.0
    T3 = np.min(csi) + 3 / 4 * (np.mean(csi) - np.min(csi))  # noqa: N806
    T4 = np.min(BB) + 5 / 6 * (np.mean(BB) - np.min(BB))  # noqa: N806
    shadowmask[np.logical_and(csi < T3, BB < T4)] = -1
    return scipy.signal.medfilt2d(shadowmask, 5)


def _authors_cloud_score(data_image):
    data_image = data_image / 10000.0
    (ch, r, c) = data_image.shape
    score = np.ones((r, c)).astype("float32")
    score = np.minimum(score, _authors_rescale(data_image[1], 0.1, 0.5).astype("float32"))
    score = np.minimum(score, _authors_rescale(data_image[0], 0.1, 0.3).astype("float32"))
    score = np.minimum(score, _authors_rescale((data_image[0] + data_image[10]), 0.15, 0.2).astype("float32"))
    score = np.minimum(
        score, _authors_rescale((data_image[3] + data_image[2] + data_image[1]), 0.2, 0.8).astype("float32")
    )
    ndsi = _authors_normalized_difference(data_image[2], data_image[11])
    score = np.minimum(score, _authors_rescale(ndsi, 0.8, 0.6).astype("float32"))
    box = np.ones((7, 7)) / (7**2)
    score = scipy.ndimage.grey_closing(score, size=(5, 5))
    score = scipy.signal.convolve2d(score, box, mode="same")
    return np.clip(score, 0.00001, 1.0)


def authors_cloud_cloudshadow_mask(data_image, cloud_threshold):
    """1 cloud, -1 shadow, 0 clear; ``data_image`` as their loader gives it: float32 digital numbers."""
    cloud = _authors_cloud_score(data_image) >= cloud_threshold
    shadow = _authors_shadow_mask(data_image)
    mask = np.zeros(cloud.shape, dtype=np.float32)
    mask[shadow < 0] = -1
    mask[cloud] = 1
    return mask


# ---- helpers ----
def as_authors_codes(classes: np.ndarray) -> np.ndarray:
    return np.select([classes == CLOUD, classes == SHADOW], [1, -1], 0).astype(np.float32)


def read_l1c(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read()


def synthetic_l1c(height: int = 100, width: int = 120, seed: int = 0) -> np.ndarray:
    """(13, H, W) uint16 L1C-like scene with smooth land, cloud blobs and dark shadow patches."""
    rng = np.random.default_rng(seed)

    def field(sigma: float) -> np.ndarray:
        f = scipy.ndimage.gaussian_filter(rng.standard_normal((height, width)), sigma)
        return (f - f.min()) / np.ptp(f)

    land = np.array([1200, 1000, 900, 800, 1100, 1800, 2100, 2300, 2400, 600, 30, 1900, 1200], float)
    image = land[:, None, None] * (0.7 + 0.6 * field(3))
    cloud = np.clip((field(6) - 0.55) * 5, 0, 1)
    image = image * (1 - cloud) + 5000 * cloud
    image[:, (field(5) > 0.65) & (cloud == 0)] *= 0.35
    return np.clip(image, 0, 10000).astype(np.uint16)


def write_l1c(path: Path, image: np.ndarray, nodata: float | None = None, crs: str = "EPSG:32631") -> Path:
    bands, height, width = image.shape
    with rasterio.open(
        path, "w", driver="GTiff", width=width, height=height, count=bands, dtype=image.dtype.name,
        crs=crs, transform=from_origin(600000, 5000000, 10, 10), nodata=nodata,
    ) as dst:
        dst.write(image)
    return path


# ---- fidelity ----
def test_matches_reference_npz(shared_dir):
    reference = np.load(shared_dir / "reference" / f"cloudmask_{SAMPLE}.npz")
    image = read_l1c(shared_dir / "data" / "sen12mscr_samples" / "s2_cloudy" / f"{SAMPLE}.tif")
    assert reference["cloud_shadow_thr0.2"].shape == image.shape[1:]  # the whole 256x256 patch
    for threshold in (0.2, 0.5):
        classes, score = cloud_shadow_mask(image, threshold)
        assert np.array_equal(as_authors_codes(classes), reference[f"cloud_shadow_thr{threshold}"])
        np.testing.assert_allclose(score, reference["cloud_score"], rtol=0, atol=1e-6)
    no_cloud, _ = cloud_shadow_mask(image, 1.0)
    assert np.array_equal(no_cloud == SHADOW, reference["shadow"] == -1)


@pytest.mark.parametrize("threshold", [0.05, 0.2, 0.5])
def test_matches_authors_code_on_cloudy_sample(shared_dir, threshold):
    image = read_l1c(shared_dir / "data" / "sen12mscr_samples" / "s2_cloudy" / f"{CLOUDY_SAMPLE}.tif")
    classes, score = cloud_shadow_mask(image, threshold)
    expected = authors_cloud_cloudshadow_mask(image.astype(np.float32), threshold)
    assert np.array_equal(as_authors_codes(classes), expected)
    assert np.array_equal(score, _authors_cloud_score(image.astype(np.float32)))
    assert (classes == CLOUD).any() and (classes == SHADOW).any()


def test_matches_authors_code_on_synthetic_scene():
    image = synthetic_l1c()
    classes, _ = cloud_shadow_mask(image)
    counts = np.bincount(classes.ravel(), minlength=3)
    assert counts[CLEAR] and counts[CLOUD] and counts[SHADOW], counts
    expected = authors_cloud_cloudshadow_mask(image.astype(np.float32), 0.2)
    assert np.array_equal(as_authors_codes(classes), expected)


# ---- blocks ----
def test_blocks_equal_whole_image(tmp_path):
    image = synthetic_l1c(100, 120, seed=1)
    path = write_l1c(tmp_path / "scene.tif", image)
    whole_classes, whole_score = cloud_shadow_mask(image)
    result = cloud_mask(path, tmp_path / "mask.tif", score_path=tmp_path / "score.tif", block_size=(37, 53))
    with rasterio.open(tmp_path / "mask.tif") as src:
        assert np.array_equal(src.read(1), whole_classes)
    with rasterio.open(tmp_path / "score.tif") as src:
        np.testing.assert_allclose(src.read(1), whole_score, rtol=0, atol=1e-6)
    assert result.cloud_pixels == (whole_classes == CLOUD).sum()
    assert result.shadow_pixels == (whole_classes == SHADOW).sum()
    assert result.clear_pixels == (whole_classes == CLEAR).sum()
    assert result.cloud_fraction + result.shadow_fraction + result.clear_fraction == pytest.approx(1)


def test_blocks_equal_whole_image_with_nodata(tmp_path):
    image = synthetic_l1c(100, 120, seed=2).astype(np.float32)
    image[:, :, :9] = -1  # a nodata strip along the west edge, as at a swath border
    image[3, 40:44, 60:70] = -1
    image[5, 70, 10] = np.nan
    path = write_l1c(tmp_path / "scene.tif", image, nodata=-1)
    valid = ~nodata_mask(image, -1)
    whole_classes, _ = cloud_shadow_mask(image, valid=valid)
    cloud_mask(path, tmp_path / "mask.tif", block_size=(37, 53))
    with rasterio.open(tmp_path / "mask.tif") as src:
        mask = src.read(1)
    assert np.array_equal(mask, whole_classes)
    assert np.array_equal(mask == MASK_NODATA, ~valid)


@pytest.mark.parametrize("window", [Window(40, 30, 30, 20), Window(0, 0, 7, 100), Window(115, 95, 5, 5)])
def test_any_window_equals_that_part_of_whole_image(tmp_path, window):
    image = synthetic_l1c(100, 120, seed=3)
    whole_classes, _ = cloud_shadow_mask(image)
    with rasterio.open(write_l1c(tmp_path / "scene.tif", image)) as dataset:
        stats = scene_shadow_statistics(dataset, block_size=(33, 41))
        assert stats.thresholds == shadow_statistics(image).thresholds
        classes, _ = window_cloud_shadow_mask(dataset, window, stats)
    assert np.array_equal(classes, whole_classes[window.toslices()])


def test_statistics_ignore_nodata():
    image = synthetic_l1c(40, 50)
    padded = np.zeros((13, 40, 60), dtype=np.uint16)  # 0 = nodata, darker than any real pixel
    padded[:, :, 10:] = image
    assert shadow_statistics(padded, ~nodata_mask(padded, 0)) == shadow_statistics(image)


def test_all_nodata_scene_warns_and_writes_nodata(tmp_path):
    path = write_l1c(tmp_path / "empty.tif", np.zeros((13, 20, 30), dtype=np.uint16), nodata=0)
    with pytest.warns(GlfcrWarning, match="nodata"):
        result = cloud_mask(path, tmp_path / "mask.tif")
    with rasterio.open(tmp_path / "mask.tif") as src:
        assert (src.read(1) == MASK_NODATA).all()
    assert result.nodata_pixels == 600 and result.valid_pixels == 0 and result.cloud_fraction == 0


# ---- the output file ----
def test_output_grid_palette_and_description(tmp_path):
    path = write_l1c(tmp_path / "scene.tif", synthetic_l1c(30, 40), crs="EPSG:32650")
    cloud_mask(path, tmp_path / "mask.tif", score_path=tmp_path / "score.tif")
    with rasterio.open(path) as src, rasterio.open(tmp_path / "mask.tif") as mask, rasterio.open(
        tmp_path / "score.tif"
    ) as score:
        for out in (mask, score):
            assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)
        assert mask.dtypes == ("uint8",) and mask.nodata == MASK_NODATA
        assert mask.descriptions == ("cloud mask",)
        assert mask.colormap(1)[CLOUD][:3] == (255, 221, 0)
        assert score.dtypes == ("float32",) and score.nodata == SCORE_NODATA
        values = score.read(1)
        assert values.min() == np.float32(1e-5) and values.max() <= 1


def test_score_is_nodata_where_input_is(tmp_path):
    image = synthetic_l1c(30, 40)
    image[:, 0, 0] = 0
    path = write_l1c(tmp_path / "scene.tif", image, nodata=0)
    cloud_mask(path, tmp_path / "mask.tif", score_path=tmp_path / "score.tif")
    with rasterio.open(tmp_path / "score.tif") as score:
        values = score.read(1)
    assert values[0, 0] == SCORE_NODATA and (values[1:] != SCORE_NODATA).all()


# ---- progress, cancel, bad input: nothing left behind ----
def test_progress_reaches_one(tmp_path):
    path = write_l1c(tmp_path / "scene.tif", synthetic_l1c(50, 50))
    seen: list[float] = []
    cloud_mask(path, tmp_path / "mask.tif", block_size=16, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) == 2 * 16


def test_cancel_leaves_no_output(tmp_path):
    path = write_l1c(tmp_path / "scene.tif", synthetic_l1c(50, 50))
    polls = iter([False] * 20 + [True] * 100)  # cancel during the second pass
    with pytest.raises(ProcessingCanceled):
        cloud_mask(path, tmp_path / "mask.tif", score_path=tmp_path / "score.tif", block_size=16,
                   is_canceled=lambda: next(polls))
    assert os.listdir(tmp_path) == ["scene.tif"]


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.01])
def test_threshold_outside_range(tmp_path, threshold):
    path = write_l1c(tmp_path / "scene.tif", synthetic_l1c(10, 10))
    with pytest.raises(ParameterValueError, match=r"\(0, 1\]"):
        cloud_mask(path, tmp_path / "mask.tif", threshold=threshold)
    assert os.listdir(tmp_path) == ["scene.tif"]


def test_threshold_one_is_accepted():
    classes, _ = cloud_shadow_mask(synthetic_l1c(20, 20), 1.0)
    assert classes.shape == (20, 20)


def test_wrong_band_count(tmp_path):
    path = write_l1c(tmp_path / "l2a.tif", synthetic_l1c(10, 10)[:12])
    with pytest.raises(InputRasterError, match="has 12 bands.*use L1C"):
        cloud_mask(path, tmp_path / "mask.tif")
    assert os.listdir(tmp_path) == ["l2a.tif"]


def test_unreadable_input(tmp_path):
    path = tmp_path / "broken.tif"
    path.write_bytes(b"not a tiff")
    with pytest.raises(RasterReadError, match="broken.tif"):
        cloud_mask(path, tmp_path / "mask.tif")
    assert os.listdir(tmp_path) == ["broken.tif"]


def test_input_is_never_overwritten(tmp_path):
    path = write_l1c(tmp_path / "scene.tif", synthetic_l1c(10, 10))
    before = path.read_bytes()
    with pytest.raises(Exception, match="also an input"):
        cloud_mask(path, path)
    assert path.read_bytes() == before


def test_no_warnings_on_clean_scene(tmp_path):
    path = write_l1c(tmp_path / "scene.tif", synthetic_l1c(20, 20))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cloud_mask(path, tmp_path / "mask.tif")
