"""s2cloudless through the project equals the package's own ``S2PixelCloudDetector`` (core).

The oracle is the installed s2cloudless package itself: ``s2cloudless/__init__`` imports ``utils``,
which imports sentinelhub only for its download helper (a default argument reads
``DataCollection.SENTINEL2_L1C``); the detector takes just ``MODEL_BAND_IDS`` and ``cv2_disk`` from it.
So this test, and only this test, puts a stand-in ``sentinelhub`` module in ``sys.modules`` to import
the real ``S2PixelCloudDetector`` (LightGBM booster + OpenCV post-processing) without installing
sentinelhub; the project's code never imports the package (checked in a clean interpreter below).
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from scene_rasters import write_raster

from glfcr_qgis.core.errors import MissingDependencyError
from glfcr_qgis.core.scene import s2cloudless_detector
from glfcr_qgis.core.scene.cloud_detector import (
    CLOUD,
    MASK_NODATA,
    SCORE_NODATA,
    SHADOW,
    shadow_statistics,
    window_shadow_mask,
)
from glfcr_qgis.core.scene.cloud_masking import cloud_mask
from glfcr_qgis.core.scene.s2cloudless_detector import (
    S2CLOUDLESS_BLOCK,
    cloud_mask_from_probability,
    disk_average,
    s2cloudless_mask,
    window_s2cloudless_mask,
)

SAMPLES = ("ROIs1970_fall_139_p839", "ROIs2017_winter_112_p797")
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference_detector():
    """The package's S2PixelCloudDetector at the settings the project uses (sentinelhub stood in)."""
    stand_in = types.ModuleType("sentinelhub")
    for name in ("BBox", "MimeType", "SentinelHubDownloadClient", "SentinelHubRequest", "SHConfig"):
        setattr(stand_in, name, type(name, (), {}))
    stand_in.DataCollection = type("DataCollection", (), {"SENTINEL2_L1C": None})
    evalscript = types.ModuleType("sentinelhub.evalscript")
    evalscript.generate_evalscript = None
    saved = {name: sys.modules.get(name) for name in ("sentinelhub", "sentinelhub.evalscript")}
    sys.modules.update({"sentinelhub": stand_in, "sentinelhub.evalscript": evalscript})
    try:
        from s2cloudless import S2PixelCloudDetector

        yield S2PixelCloudDetector(threshold=0.4, average_over=4, dilation_size=2, all_bands=True)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def read_sample(shared_dir: Path, name: str) -> np.ndarray:
    with rasterio.open(shared_dir / "data" / "sen12mscr_samples" / "s2_cloudy" / f"{name}.tif") as dataset:
        return dataset.read()


def reference_on_60m(detector, image_dn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference's mask and probability on 6x6-block means, repeated back onto the 10 m pixels."""
    _, height, width = image_dn.shape
    rows, cols = -(-height // S2CLOUDLESS_BLOCK), -(-width // S2CLOUDLESS_BLOCK)
    padded = np.full((13, rows * S2CLOUDLESS_BLOCK, cols * S2CLOUDLESS_BLOCK), np.nan)
    padded[:, :height, :width] = image_dn
    blocks = padded.reshape(13, rows, S2CLOUDLESS_BLOCK, cols, S2CLOUDLESS_BLOCK)
    reflectance = (np.nanmean(blocks, axis=(2, 4)) / 10000.0).astype(np.float32)
    data = np.moveaxis(reflectance, 0, -1)[np.newaxis]
    mask = detector.get_cloud_masks(data)[0]
    probability = detector.get_cloud_probability_maps(data)[0]
    repeat = np.ix_(np.arange(height) // S2CLOUDLESS_BLOCK, np.arange(width) // S2CLOUDLESS_BLOCK)
    return mask[repeat].astype(bool), probability[repeat]


def mosaic(shared_dir: Path, side: int = 256) -> np.ndarray:
    """A scene with a cloud edge: the cloudy sample's left part beside the clear one's right part."""
    cloudy, clear = (read_sample(shared_dir, name)[:, :side, :side] for name in SAMPLES)
    edge = side // 2 + 3  # off the 6-pixel blocks
    return np.concatenate([cloudy[:, :, :edge], clear[:, :, edge:]], axis=2)


@pytest.mark.parametrize("name", SAMPLES)
def test_equals_the_packages_detector_on_real_samples(shared_dir, reference_detector, name):
    image = read_sample(shared_dir, name)
    cloud, probability = s2cloudless_mask(image)
    expected_cloud, expected_probability = reference_on_60m(reference_detector, image)
    np.testing.assert_array_equal(probability, expected_probability)
    np.testing.assert_array_equal(cloud, expected_cloud)


def test_equals_the_packages_detector_across_a_cloud_edge(shared_dir, reference_detector):
    image = mosaic(shared_dir)
    cloud, probability = s2cloudless_mask(image)
    expected_cloud, expected_probability = reference_on_60m(reference_detector, image)
    assert 0.2 < cloud.mean() < 0.8  # both classes and an edge for the filters to work on
    np.testing.assert_array_equal(probability, expected_probability)
    np.testing.assert_array_equal(cloud, expected_cloud)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_post_processing_equals_opencv_bit_for_bit(reference_detector, seed):
    import cv2

    rng = np.random.default_rng(seed)
    probability = (rng.random((41, 57)) ** (seed + 1)).astype(np.float32)
    kernel = reference_detector.conv_filter
    np.testing.assert_array_equal(
        disk_average(probability), cv2.filter2D(probability, -1, kernel, borderType=cv2.BORDER_REFLECT)
    )
    expected = reference_detector.get_mask_from_prob(probability[np.newaxis])[0].astype(bool)
    np.testing.assert_array_equal(cloud_mask_from_probability(probability), expected)


@pytest.mark.parametrize("window", [Window(0, 0, 256, 256), Window(37, 41, 101, 77), Window(131, 3, 7, 250)])
def test_any_window_equals_that_part_of_the_whole_image(tmp_path, shared_dir, window):
    image = mosaic(shared_dir)
    cloud, probability = s2cloudless_mask(image)
    path = write_raster(tmp_path / "scene.tif", image)
    with rasterio.open(path) as dataset:
        window_cloud, window_probability = window_s2cloudless_mask(dataset, window)
    part = window.toslices()
    np.testing.assert_array_equal(window_cloud, cloud[part])
    np.testing.assert_array_equal(window_probability, probability[part])


def test_the_halo_is_needed_in_full(tmp_path, shared_dir, monkeypatch):
    # each 60 m block a different mix of the two samples: averaged probabilities often near 0.4, where
    # one wrong tap at the edge of the average flips the mask
    cloudy, clear = (read_sample(shared_dir, name)[:, :96, :96].astype(float) for name in SAMPLES)
    share = (0.25 + 0.15 * np.random.default_rng(0).random((16, 16))).repeat(6, axis=0).repeat(6, axis=1)
    image = (cloudy * share + clear * (1 - share)).astype(np.uint16)
    cloud, _ = s2cloudless_mask(image)
    assert 0.1 < cloud.mean() < 0.9
    path = write_raster(tmp_path / "scene.tif", image)
    windows = [Window(col, row, 12, 12) for row in range(0, 96, 12) for col in range(0, 96, 12)]

    def windows_differing() -> int:
        with rasterio.open(path) as dataset:
            masks = [window_s2cloudless_mask(dataset, window)[0] for window in windows]
        pairs = zip(masks, windows, strict=True)
        return sum(not np.array_equal(mask, cloud[window.toslices()]) for mask, window in pairs)

    assert windows_differing() == 0
    monkeypatch.setattr(s2cloudless_detector, "S2CLOUDLESS_HALO", s2cloudless_detector.S2CLOUDLESS_HALO - 1)
    assert windows_differing() > 0


def test_cloud_mask_blocks_equal_the_whole_scene_with_the_authors_shadows(tmp_path, shared_dir):
    image = mosaic(shared_dir, 160)
    image[:, 100:110, 120:135] = 0  # a nodata pocket
    path = write_raster(tmp_path / "scene.tif", image, nodata=0)
    # odd blocks: windows start anywhere inside the 6 x 6 blocks and cut through the halo
    results = [
        cloud_mask(
            path,
            tmp_path / f"mask_{i}.tif",
            method="s2cloudless",
            block_size=size,
            score_path=tmp_path / f"probability_{i}.tif",
        )
        for i, size in enumerate([(53, 37), 4096])
    ]
    masks = [read_band(result.mask_path) for result in results]
    scores = [read_band(result.score_path) for result in results]
    for mask, score in zip(masks[1:], scores[1:], strict=True):
        np.testing.assert_array_equal(mask, masks[0])
        np.testing.assert_array_equal(score, scores[0])

    valid = (image != 0).all(axis=0)
    cloud, probability = s2cloudless_mask(image, valid)
    with rasterio.open(path) as dataset:
        shadow = window_shadow_mask(dataset, Window(0, 0, 160, 160), shadow_statistics(image, valid))
    expected = np.zeros((160, 160), np.uint8)
    expected[shadow] = SHADOW
    expected[cloud] = CLOUD
    expected[~valid] = MASK_NODATA
    assert shadow.any() and cloud.any()
    np.testing.assert_array_equal(masks[0], expected)
    np.testing.assert_array_equal(scores[0], np.where(valid, probability, np.float32(SCORE_NODATA)))
    assert results[0].method == "s2cloudless"
    with rasterio.open(results[0].mask_path) as dataset:
        tags = dataset.tags()
    assert tags["cloud_mask_method"] == "s2cloudless"
    assert "average_over=4, dilation_size=2" in tags["s2cloudless_settings"]


def read_band(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read(1)


def test_the_package_and_sentinelhub_are_never_imported():
    # a clean interpreter: the loader reaches the model file and classifier without running the package
    script = (
        "import sys, numpy as np\n"
        "from glfcr_qgis.core.scene.s2cloudless_detector import s2cloudless_mask\n"
        "cloud, p = s2cloudless_mask(np.full((13, 12, 12), 3000, np.uint16))\n"
        "assert p.shape == (12, 12)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('s2cloudless', 'sentinelhub', 'cv2')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_missing_package_gets_the_install_sentence(monkeypatch, tmp_path):
    monkeypatch.setattr(s2cloudless_detector.importlib.util, "find_spec", lambda name: None)
    s2cloudless_detector.pixel_classifier.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match="pip install --no-deps s2cloudless"):
            cloud_mask(write_tiny(tmp_path), tmp_path / "mask.tif", method="s2cloudless")
    finally:
        s2cloudless_detector.pixel_classifier.cache_clear()
    assert not (tmp_path / "mask.tif").exists()


def write_tiny(folder: Path) -> Path:
    return write_raster(folder / "tiny.tif", np.full((13, 8, 8), 2000, np.uint16))


def test_the_pins_live_in_tested_versions_and_install_sh_reads_them():
    from importlib.metadata import version

    from glfcr_qgis.core.setup.requirements import tested_requirements

    pins = {requirement.name: requirement for requirement in tested_requirements()}
    assert (pins["lightgbm"].spec, pins["lightgbm"].condition) == (
        s2cloudless_detector.LIGHTGBM_REQUIREMENT,
        "optional",
    )
    assert (pins["s2cloudless"].spec, pins["s2cloudless"].condition) == (
        s2cloudless_detector.S2CLOUDLESS_REQUIREMENT,
        "optional-no-deps",
    )
    script = (REPO_ROOT / "install.sh").read_text().splitlines()
    lines = [line for line in script if line.startswith(("optional=", "optional_no_deps="))]
    completed = subprocess.run(
        ["bash", "-c", "; ".join(lines) + '; echo "$optional|$optional_no_deps"'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    optional, no_deps = completed.stdout.strip().split("|")
    assert pins["lightgbm"].spec in optional.split() and no_deps.split() == [pins["s2cloudless"].spec]
    for name in ("lightgbm", "s2cloudless"):
        assert f"{name}=={version(name)}" == pins[name].spec  # the environment holds the tested versions
