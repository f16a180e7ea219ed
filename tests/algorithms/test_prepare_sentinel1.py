"""The ``glfcr:preparesentinel1`` algorithm: parameters, checks, runs in QGIS and through qgis_process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from conftest import RecordingFeedback, processing_run, run_qgis_process
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import reproject
from scene_rasters import optical_dn, sar_db, sar_in_scale, write_raster
from sentinel1_products import zipped_product_with_patch

ALG_ID = "glfcr:preparesentinel1"


@pytest.fixture(scope="module")
def grd(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float, float]:
    product, (x, y) = zipped_product_with_patch(tmp_path_factory.mktemp("grd"), seed=7)
    return product, x, y


def algorithm(qgis_app: Any) -> Any:
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().createAlgorithmById(ALG_ID)


def check(qgis_app: Any, params: dict[str, Any]) -> tuple[bool, str]:
    from qgis.core import QgsProcessingContext

    return algorithm(qgis_app).checkParameterValues(params, QgsProcessingContext())


def test_parameters_and_help(qgis_app: Any) -> None:
    alg = algorithm(qgis_app)
    assert [p.name() for p in alg.parameterDefinitions()] == [
        "INPUT",
        "VH",
        "SAR_SCALE",
        "REFERENCE",
        "EXTENT",
        "OUTPUT",
    ]
    scale = alg.parameterDefinition("SAR_SCALE")
    assert (
        scale.defaultValue() == 0
        and len(scale.options()) == 4
        and scale.options()[1:] == ["dB", "linear power", "amplitude"]
    )
    assert not alg.parameterDefinition("INPUT").flags() & alg.parameterDefinition("INPUT").FlagOptional
    for name in ("VH", "REFERENCE", "EXTENT"):
        assert alg.parameterDefinition(name).flags() & alg.parameterDefinition(name).FlagOptional
    help_text = alg.shortHelpString()
    for words in (
        "no terrain correction",
        "h / tan(incidence)",
        "sigma0 = (DN^2 - noise) / A^2",
        "UTM",
        "gamma0",
    ):
        assert words in help_text
    assert alg.canExecute()[0]  # no torch needed


def test_a_grd_product_is_prepared_on_its_utm_grid_inside_the_extent(
    qgis_app: Any, grd: tuple[Path, float, float], tmp_path: Path
) -> None:
    product, x, y = grd
    x, y = round(x, -1), round(y, -1)  # on the 10 m grid, so the extent is whole pixels
    feedback = RecordingFeedback()
    output = tmp_path / "s1.tif"
    results = processing_run(
        ALG_ID,
        {
            "INPUT": str(product),
            "EXTENT": f"{x - 300},{x + 300},{y - 200},{y + 200} [EPSG:32632]",
            "OUTPUT": str(output),
        },
        feedback,
    )
    assert Path(results["OUTPUT"]) == output and results["VALID_FRACTION"] == 1.0
    with rasterio.open(output) as dataset:
        assert dataset.crs.to_epsg() == 32632 and dataset.res == (10.0, 10.0) and dataset.shape == (40, 60)
        assert dataset.descriptions == ("VV", "VH") and dataset.dtypes == ("float32", "float32")
        assert np.isnan(dataset.nodata)
        values = dataset.read()
        tags = dataset.tags()
    assert (
        np.isfinite(values).all()
        and -30 < np.median(values[0]) < 20
        and np.median(values[1]) < np.median(values[0])
    )
    assert tags["sar_input"] == product.stem and tags["grid"] == "EPSG:32632 at 10 m"
    assert any("without terrain correction" in w and "h / tan(incidence)" in w for w in feedback.warnings)
    assert any("GRD calibrated to sigma0 dB" in info for info in feedback.infos)


def test_a_product_loaded_as_a_qgis_layer_is_read_as_the_product(
    qgis_app: Any, grd: tuple[Path, float, float], tmp_path: Path
) -> None:
    """GDAL's SAFE driver opens the manifest as raw DN; the algorithm reads the product behind the layer."""
    from qgis.core import QgsRasterLayer

    product, x, y = grd
    layer = QgsRasterLayer(str(product.with_suffix(".SAFE") / "manifest.safe"), "s1", "gdal")
    assert layer.isValid()
    output = tmp_path / "s1.tif"
    extent = f"{x - 100},{x + 100},{y - 100},{y + 100} [EPSG:32632]"
    processing_run(ALG_ID, {"INPUT": layer, "EXTENT": extent, "OUTPUT": str(output)})
    with rasterio.open(output) as dataset:
        assert dataset.tags()["sar_scale"].startswith("GRD digital numbers, calibrated")


def test_a_raster_is_put_on_the_reference_grid(qgis_app: Any, tmp_path: Path) -> None:
    db = sar_db(40, 40)
    sar = write_raster(
        tmp_path / "sar.tif", sar_in_scale(db, "amplitude"), descriptions=["Amplitude_VV", "Amplitude_VH"]
    )
    reference = write_raster(
        tmp_path / "ref.tif", optical_dn(10, 10, bands=1), transform=from_origin(600100, 4999900, 20, 20)
    )
    output = tmp_path / "out.tif"
    processing_run(
        ALG_ID, {"INPUT": str(sar), "REFERENCE": str(reference), "SAR_SCALE": 0, "OUTPUT": str(output)}
    )
    with rasterio.open(output) as dataset, rasterio.open(reference) as ref:
        assert (dataset.crs, dataset.transform, dataset.shape) == (ref.crs, ref.transform, ref.shape)
        values = dataset.read()
        assert dataset.tags()["sar_scale"] == "amplitude"
    # what GDAL's bilinear makes of the dB scene on that grid, in one piece
    expected = np.full((2, 10, 10), np.nan, dtype=np.float32)
    with rasterio.open(reference) as ref, rasterio.open(sar) as src:
        reproject(
            db,
            expected,
            src_transform=src.transform,
            src_crs=src.crs,
            dst_transform=ref.transform,
            dst_crs=ref.crs,
            resampling=Resampling.bilinear,
        )
    np.testing.assert_allclose(values, expected, atol=1e-4)


def test_cancel_leaves_no_output(qgis_app: Any, grd: tuple[Path, float, float], tmp_path: Path) -> None:
    from qgis.core import QgsProcessingException

    feedback = RecordingFeedback()
    feedback.cancel()
    with pytest.raises(QgsProcessingException, match="canceled; no output was written"):
        processing_run(ALG_ID, {"INPUT": str(grd[0]), "OUTPUT": str(tmp_path / "s1.tif")}, feedback)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"INPUT": "missing.tif"}, "missing.tif does not exist; check the path"),
        ({"OUTPUT": "out.img"}, "is written as GeoTIFF: name it with a .tif or .tiff extension"),
        ({"SAR_SCALE": 0, "INPUT": "dn.tif"}, "set the SAR scale (SAR_SCALE)"),
        ({"INPUT": "vv.tif"}, "has VV but no VH band"),
    ],
)
def test_checks_refuse_bad_inputs_with_the_fix(
    qgis_app: Any, tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    write_raster(
        tmp_path / "dn.tif", np.random.default_rng(0).integers(50, 900, (2, 20, 20)).astype(np.uint16)
    )
    write_raster(tmp_path / "vv.tif", sar_db(20, 20)[:1], descriptions=["VV"])
    params = {"INPUT": "dn.tif", "SAR_SCALE": 1, "OUTPUT": "out.tif", **change}
    ok, message = check(
        qgis_app,
        {key: str(tmp_path / value) if isinstance(value, str) else value for key, value in params.items()},
    )
    assert not ok and expected in message


@pytest.mark.slow
def test_qgis_process_prepares_linear_vv_and_vh_files_as_the_db_raster(tmp_path: Path) -> None:
    db = sar_db(32, 32)
    vv = write_raster(tmp_path / "Sigma0_VV.tif", sar_in_scale(db[:1], "linear"))
    vh = write_raster(tmp_path / "Sigma0_VH.tif", sar_in_scale(db[1:], "linear"))
    output = tmp_path / "s1_db.tif"
    result = run_qgis_process(ALG_ID, {"INPUT": vv, "VH": vh, "OUTPUT": output})
    assert result["returncode"] == 0, result["stderr"] + result["stdout"]
    assert result["results"]["VALID_FRACTION"] == 1.0
    with rasterio.open(output) as dataset:
        np.testing.assert_allclose(dataset.read(), db, atol=1e-4)
        assert dataset.tags()["sar_scale"] == "linear power"
