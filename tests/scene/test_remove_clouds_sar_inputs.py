"""Remove Clouds with SAR as analysts have it: any scale, VV/VH as two files, a GRD product (core, stand-in).

A per-pixel stand-in network makes the output a known function of the normalised SAR, so any difference
in how the SAR was read shows in the output; the real network runs on these inputs in
``tests/algorithms/test_prepare_sentinel1.py`` through qgis_process.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin
from scene_rasters import optical_dn, reproject_raster, sar_db, sar_in_scale, write_raster
from sentinel1_products import zipped_product_with_patch
from torch import nn

from glfcr_qgis.core.errors import GlfcrWarning
from glfcr_qgis.core.io.sentinel1.preparation import prepare_sentinel1
from glfcr_qgis.core.scene.pipeline import remove_clouds

SIZE = 48
# the network's normalised units are DN / 10000: 1e-4 of them is 1 DN
NORMALISED_TOLERANCE_DN = 1e-4 * 10000


class SarWeightedStandIn(nn.Module):
    """A per-pixel function of both inputs, sensitive to VV and VH."""

    def forward(self, cloudy: torch.Tensor, sar: torch.Tensor) -> torch.Tensor:
        return 0.5 * cloudy + 0.3 * sar[:, :1] + 0.2 * sar[:, 1:]


def run(optical: Path, sar: Path, output: Path, **kwargs: object) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GlfcrWarning)
        result = remove_clouds(
            optical,
            sar,
            SarWeightedStandIn(),
            output,
            tile_size=32,
            overlap=8,
            device="cpu",
            output_type="Float32",
            **kwargs,
        )
    with rasterio.open(result.output_path) as dataset:
        return dataset.read()


@pytest.fixture
def scene(tmp_path: Path) -> tuple[Path, np.ndarray]:
    return write_raster(tmp_path / "cloudy.tif", optical_dn(SIZE, SIZE)), sar_db(SIZE, SIZE)


def test_db_linear_and_amplitude_inputs_give_the_same_output(
    scene: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    optical, db = scene
    reference = run(
        optical, write_raster(tmp_path / "db.tif", db, descriptions=["VV", "VH"]), tmp_path / "a.tif"
    )
    for scale in ("linear", "amplitude"):
        sar = write_raster(
            tmp_path / f"sar_{len(scale)}.tif", sar_in_scale(db, scale), descriptions=["VV", "VH"]
        )
        output = run(optical, sar, tmp_path / f"{scale}.tif")
        np.testing.assert_allclose(output, reference, atol=NORMALISED_TOLERANCE_DN)
        with rasterio.open(tmp_path / f"{scale}.tif") as dataset:
            tags = dataset.tags()
        assert tags["sar_scale"] == {"linear": "linear power", "amplitude": "amplitude"}[scale]
        assert tags["sar_scale_from"].startswith("values") and tags["sar_convention"] == "sigma0"


def test_vv_and_vh_as_two_files_give_the_output_of_one_two_band_file(
    scene: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    optical, db = scene
    reference = run(
        optical, write_raster(tmp_path / "db.tif", db, descriptions=["VV", "VH"]), tmp_path / "a.tif"
    )
    vv = write_raster(tmp_path / "Sigma0_VV.tif", sar_in_scale(db[:1], "linear"))
    vh = write_raster(tmp_path / "Sigma0_VH.tif", sar_in_scale(db[1:], "linear"))
    np.testing.assert_allclose(
        run(optical, vv, tmp_path / "b.tif", sar_vh_path=vh), reference, atol=NORMALISED_TOLERANCE_DN
    )
    # the scale may also be given rather than found
    np.testing.assert_allclose(
        run(optical, vv, tmp_path / "c.tif", sar_vh_path=vh, sar_scale="linear"),
        reference,
        atol=NORMALISED_TOLERANCE_DN,
    )


def test_scales_agree_when_the_sar_is_resampled(scene: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    optical, db = scene
    db_4326 = reproject_raster(write_raster(tmp_path / "db.tif", db), tmp_path / "db_4326.tif", "EPSG:4326")
    with rasterio.open(db_4326) as src:
        amplitude = write_raster(
            tmp_path / "amp_4326.tif",
            sar_in_scale(src.read(), "amplitude"),
            transform=src.transform,
            crs=src.crs,
            nodata=0.0,
            descriptions=["VV", "VH"],
        )
    reference = run(optical, db_4326, tmp_path / "a.tif")
    np.testing.assert_allclose(
        run(optical, amplitude, tmp_path / "b.tif"), reference, atol=NORMALISED_TOLERANCE_DN
    )


@pytest.fixture(scope="module")
def grd_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[float, float]]:
    return zipped_product_with_patch(tmp_path_factory.mktemp("grd"))


def test_a_grd_product_gives_the_output_of_its_prepared_raster(
    grd_zip: tuple[Path, tuple[float, float]], tmp_path: Path
) -> None:
    product, (x, y) = grd_zip
    transform = from_origin(round(x) - SIZE * 5, round(y) + SIZE * 5, 10, 10)
    optical = write_raster(
        tmp_path / "cloudy.tif", optical_dn(SIZE, SIZE), transform=transform, crs="EPSG:32632"
    )
    with pytest.warns(
        GlfcrWarning, match=r"without terrain correction: on slopes the SAR is displaced by about h / "
    ):
        direct = remove_clouds(
            optical,
            product,
            SarWeightedStandIn(),
            tmp_path / "direct.tif",
            tile_size=32,
            overlap=8,
            device="cpu",
            output_type="Float32",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GlfcrWarning)
        prepared = prepare_sentinel1(product, tmp_path / "s1.tif", reference_path=optical)
    assert prepared.valid_fraction == 1.0
    assert direct.sar_resampled and direct.valid_fraction == 1.0 and "GRD calibrated" in direct.sar_summary
    with rasterio.open(direct.output_path) as dataset:
        tags, expected = dataset.tags(), dataset.read()
    np.testing.assert_allclose(
        run(optical, prepared.output_path, tmp_path / "via.tif"), expected, atol=NORMALISED_TOLERANCE_DN
    )
    assert tags["sar_input"] == product.stem and "sigma0 = (DN^2 - noise)" in tags["sar_calibration"]
