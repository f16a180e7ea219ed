"""SAR rasters as analysts have them (core.io.sentinel1): scale, bands, convention, VV/VH in two files."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window
from scene_rasters import ORIGIN, UTM31, optical_dn, reproject_raster, sar_db, sar_in_scale, write_raster

from glfcr_qgis.core.errors import GlfcrWarning, InputRasterError, ParameterValueError
from glfcr_qgis.core.io.alignment import SarOnOpticalGrid
from glfcr_qgis.core.io.sentinel1.convention import GAMMA0, bias_range, kind_of_text, sigma0_correction_db
from glfcr_qgis.core.io.sentinel1.inputs import open_sar_source
from glfcr_qgis.core.io.sentinel1.scale import scale_from_values, scale_of_text, to_db

HEIGHT, WIDTH = 40, 48


def read_source(
    path: Path, vh: Path | None = None, scale: str = "auto", window: Window | None = None
) -> np.ndarray:
    with open_sar_source(path, vh_path=vh, scale=scale) as source:
        return source.read(window or Window(0, 0, source.width, source.height))


@pytest.mark.parametrize(
    ("text", "is_name", "scale"),
    [
        ("Sigma0_VV_db", True, "db"),
        ("Sigma0_VV", True, "linear"),
        ("Gamma0_VH", True, "linear"),
        ("Amplitude_VH", True, "amplitude"),
        ("dB", False, "db"),
        ("decibel", False, "db"),
        ("linear backscatter intensity", False, "linear"),
        ("VV", True, None),
        ("gamma0", False, None),
        ("S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A_VV.tif", True, "linear"),
        ("S1A_IW_20180128T161201_DVP_RTC30_G_gauned_FD6A_VH.tif", True, "amplitude"),
        ("S1A_IW_20180128T161201_DVP_RTC30_G_gduned_FD6A_VH.tif", True, "db"),
        ("OPERA_L2_RTC-S1_T069-147170-IW1_20231012T180040Z_VV.tif", True, "linear"),
    ],
)
def test_scale_from_names_units_and_product_names(text: str, is_name: bool, scale: str | None) -> None:
    assert scale_of_text(text, is_name=is_name) == scale


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Gamma0_VV", "gamma0"),
        ("Sigma0_VH_db", "sigma0"),
        ("beta0", "beta0"),
        ("iw-vv.rtc", "gamma0"),
        ("S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A_VV", "gamma0"),
        ("VV", None),
        ("angle", None),
    ],
)
def test_convention_from_names(text: str, kind: str | None) -> None:
    assert kind_of_text(text) == kind


def test_scale_from_values_tells_db_linear_and_amplitude_apart_and_refuses_digital_numbers() -> None:
    db = sar_db(64, 64)
    assert scale_from_values(db[0], db[1]).scale == "db"
    assert scale_from_values(sar_in_scale(db[0], "linear"), sar_in_scale(db[1], "linear")).scale == "linear"
    assert (
        scale_from_values(sar_in_scale(db[0], "amplitude"), sar_in_scale(db[1], "amplitude")).scale
        == "amplitude"
    )
    dn = np.random.default_rng(0).integers(50, 900, size=(2, 64, 64)).astype(np.float32)
    assert scale_from_values(dn[0], dn[1]) is None


def test_to_db_marks_linear_zero_as_missing_and_floors_negative_power() -> None:
    np.testing.assert_allclose(
        to_db(np.array([0.1, 0.0, -0.01, np.nan]), "linear"), [-10, np.nan, -50, np.nan]
    )
    np.testing.assert_allclose(to_db(np.array([0.1, 0.0]), "amplitude"), [-20, np.nan])


@pytest.mark.parametrize("scale", ["linear", "amplitude"])
def test_the_same_scene_in_any_scale_reads_the_same_db_on_a_resampled_grid(
    tmp_path: Path, scale: str
) -> None:
    db = sar_db(HEIGHT, WIDTH)
    optical = write_raster(tmp_path / "optical.tif", optical_dn(HEIGHT, WIDTH))
    db_path = reproject_raster(write_raster(tmp_path / "db.tif", db), tmp_path / "db_4326.tif", "EPSG:4326")
    with rasterio.open(db_path) as src:
        other = write_raster(
            tmp_path / "converted.tif",
            sar_in_scale(src.read(), scale),
            transform=src.transform,
            crs=src.crs,
            nodata=0.0,
        )
    reads = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GlfcrWarning)
        for path in (db_path, other):
            with (
                rasterio.open(optical) as opt,
                open_sar_source(path) as source,
                SarOnOpticalGrid(opt, source) as grid,
            ):
                assert grid.resampled
                reads.append(grid.read(Window(0, 0, WIDTH, HEIGHT)))
                tags = source.tags
    assert tags["sar_scale"] == {"linear": "linear power", "amplitude": "amplitude"}[scale]
    assert "values" in tags["sar_scale_from"]
    np.testing.assert_allclose(reads[1], reads[0], atol=1e-3, equal_nan=True)  # dB, i.e. 4e-5 normalised
    assert np.isfinite(reads[0][:, 2:-2, 2:-2]).all()


def test_vv_and_vh_in_two_files_read_as_one_two_band_file(tmp_path: Path) -> None:
    db = sar_db(HEIGHT, WIDTH)
    both = write_raster(tmp_path / "both.tif", db, descriptions=["VV", "VH"])
    vv = write_raster(
        tmp_path / "S1A_IW_20200101T000000_DVP_RTC10_G_gpuned_ABCD_VV.tif", sar_in_scale(db[:1], "linear")
    )
    vh = write_raster(
        tmp_path / "S1A_IW_20200101T000000_DVP_RTC10_G_gpuned_ABCD_VH.tif", sar_in_scale(db[1:], "linear")
    )
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error", GlfcrWarning
        )  # named bands: no warning (the gamma0 one is checked below)
        expected = read_source(both)
    with pytest.warns(GlfcrWarning, match=r"gamma0 .* \+0\.6 to \+1\.6 dB"):
        with open_sar_source(vv, vh_path=vh) as source:
            split = source.read(Window(0, 0, WIDTH, HEIGHT))
            assert source.tags["sar_scale_from"].startswith("band description")
            assert "NOT converted" in source.tags["sar_convention"]
    np.testing.assert_allclose(split, expected, atol=1e-4)


def test_bands_are_found_by_name_in_any_order_and_with_an_incidence_band(tmp_path: Path) -> None:
    db = sar_db(HEIGHT, WIDTH)
    angle = np.broadcast_to(np.linspace(30, 46, WIDTH, dtype=np.float32), (1, HEIGHT, WIDTH))
    gamma = (db - sigma0_correction_db(GAMMA0, angle[0])).astype(np.float32)  # gamma0 = sigma0 / cos
    path = write_raster(
        tmp_path / "snap.tif",
        np.concatenate([angle, sar_in_scale(gamma[1:], "linear"), sar_in_scale(gamma[:1], "linear")]),
        descriptions=["incidenceAngleFromEllipsoid", "Gamma0_VH", "Gamma0_VV"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", GlfcrWarning)
        with open_sar_source(path) as source:
            values = source.read(Window(0, 0, WIDTH, HEIGHT))
            assert "converted to sigma0 with the incidence angle band" in source.tags["sar_convention"]
            assert source.tags["sar_scale"] == "linear power"
    np.testing.assert_allclose(values, db, atol=1e-4)
    assert bias_range(GAMMA0) == "+0.6 to +1.6 dB at 30-46 degrees incidence"


def test_gamma0_with_an_incidence_angle_tag_is_converted(tmp_path: Path) -> None:
    db = sar_db(HEIGHT, WIDTH)
    path = write_raster(
        tmp_path / "rtc.tif", (db + 1.0).astype(np.float32), descriptions=["Gamma0_VV_db", "Gamma0_VH_db"]
    )
    with rasterio.open(path, "r+") as dataset:
        dataset.update_tags(INCIDENCE_ANGLE="37.5")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GlfcrWarning)
        values = read_source(path)
    np.testing.assert_allclose(values, db + 1.0 + 10 * np.log10(np.cos(np.radians(37.5))), atol=1e-4)


def test_unnamed_bands_are_taken_in_order_with_a_warning(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "export.tif", sar_db(HEIGHT, WIDTH))
    with pytest.warns(
        GlfcrWarning, match="band 1 of export.tif is taken as VV and band 2 of export.tif as VH"
    ):
        read_source(path)


@pytest.mark.parametrize(
    ("descriptions", "vh", "message"),
    [
        (["HH", "HV"], False, "holds HH/HV backscatter; GLF-CR was trained on VV and VH"),
        (["VV"], False, "has VV but no VH band; GLF-CR needs both: give the VH file"),
        ([""], False, "has 1 backscatter band; GLF-CR needs VV and VH"),
        (["VH"], True, "look swapped"),
    ],
)
def test_bands_that_cannot_feed_the_network_are_refused(
    tmp_path: Path, descriptions: list[str], vh: bool, message: str
) -> None:
    path = write_raster(
        tmp_path / "sar.tif", sar_db(HEIGHT, WIDTH)[: len(descriptions)], descriptions=descriptions
    )
    second = write_raster(tmp_path / "second.tif", sar_db(HEIGHT, WIDTH)[1:]) if vh else None
    with pytest.raises(InputRasterError, match=message):
        read_source(path, second)


def test_two_files_on_different_grids_are_refused(tmp_path: Path) -> None:
    vv = write_raster(tmp_path / "vv.tif", sar_db(HEIGHT, WIDTH)[:1], descriptions=["VV"])
    vh = write_raster(
        tmp_path / "vh.tif",
        sar_db(HEIGHT, WIDTH)[1:],
        descriptions=["VH"],
        transform=from_origin(ORIGIN[0] + 5, ORIGIN[1], 10, 10),
    )
    with pytest.raises(InputRasterError, match="is not on the grid of the SAR file"):
        read_source(vv, vh)


def test_a_scale_nothing_tells_is_asked_for(tmp_path: Path) -> None:
    dn = np.random.default_rng(3).integers(50, 900, size=(2, HEIGHT, WIDTH)).astype(np.uint16)
    path = write_raster(tmp_path / "dn.tif", dn, descriptions=["VV", "VH"])
    with pytest.raises(ParameterValueError, match=r"set the SAR scale \(SAR_SCALE\) to 1 \(dB\), 2"):
        read_source(path)
    with pytest.warns(GlfcrWarning, match="implausible for sigma0"):
        read_source(path, scale="auto") if False else None
        with open_sar_source(
            write_raster(tmp_path / "dn_lin.tif", dn, descriptions=["Sigma0_VV", "Sigma0_VH"])
        ):
            pass
    with pytest.raises(ParameterValueError, match="SAR scale 'decibel' is not one of"):
        read_source(path, scale="decibel")
    # the parameter decides when given
    np.testing.assert_allclose(read_source(path, scale="amplitude"), 20 * np.log10(dn), rtol=1e-5)


def test_declared_nodata_and_windows(tmp_path: Path) -> None:
    db = sar_db(HEIGHT, WIDTH)
    linear = sar_in_scale(db, "linear")
    linear[:, 5, 6] = -9999.0
    path = write_raster(
        tmp_path / "lin.tif", linear, nodata=-9999.0, descriptions=["Sigma0_VV", "Sigma0_VH"], crs=UTM31
    )
    values = read_source(path, window=Window(2, 3, 10, 8))
    assert np.isnan(values[:, 2, 4]).all()
    expected = db[:, 3:11, 2:12].copy()
    expected[:, 2, 4] = np.nan
    np.testing.assert_allclose(values, expected, atol=1e-4)
