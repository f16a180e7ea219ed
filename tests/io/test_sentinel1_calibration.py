"""Sentinel-1 calibration arithmetic (core.io.sentinel1.calibration): closed forms and the real ESA tables."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator
from sentinel1_products import GRD_DIR, SLC_CALIBRATION, SLC_CALIBRATION_DIR, SLC_NOISE

from glfcr_qgis.core.errors import InputRasterError
from glfcr_qgis.core.io.sentinel1.calibration import (
    NOISE_FLOOR,
    AzimuthNoiseBlock,
    SparseLut,
    ThermalNoise,
    ipf_version,
    parse_calibration,
    parse_noise,
    power_to_db,
    sigma0,
)


def linear_table(lines: list[float], pixels: list[float]) -> SparseLut:
    """A table of f(line, pixel) = 3 + 0.5 line - 0.25 pixel + 0.01 line pixel, which bilinear reproduces."""
    grid_lines, grid_pixels = np.meshgrid(lines, pixels, indexing="ij")
    values = 3 + 0.5 * grid_lines - 0.25 * grid_pixels + 0.01 * grid_lines * grid_pixels
    return SparseLut(np.array(lines, float), tuple(np.array([pixels] * len(lines), float)), tuple(values))


def test_bilinear_interpolation_reproduces_a_bilinear_function_between_irregular_nodes() -> None:
    table = linear_table([-10, 0, 7, 30], [0, 4, 10, 40])
    rows, cols = np.arange(-10, 31, 3.0), np.arange(0, 41, 2.5)
    expected = 3 + 0.5 * rows[:, None] - 0.25 * cols[None, :] + 0.01 * rows[:, None] * cols[None, :]
    np.testing.assert_allclose(table.interpolate(rows, cols), expected, rtol=0, atol=1e-12)


def test_values_beyond_the_table_are_held_at_its_edge() -> None:
    table = SparseLut(
        np.array([0.0, 10.0]), (np.array([0.0, 10.0]),) * 2, (np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    )
    np.testing.assert_allclose(
        table.interpolate(np.array([-5.0, 20.0]), np.array([-1.0, 5.0, 99.0])),
        [[1.0, 1.5, 2.0], [3.0, 3.5, 4.0]],
    )


def test_vectors_with_their_own_pixels_interpolate_along_each_then_between_lines() -> None:
    table = SparseLut(
        np.array([0.0, 10.0]),
        (np.array([0.0, 10.0]), np.array([0.0, 5.0, 10.0])),
        (np.array([0.0, 10.0]), np.array([0.0, 20.0, 0.0])),
    )
    # at pixel 5: 5 on the first vector, 20 on the second; a quarter of the way down
    assert table.interpolate(np.array([2.5]), np.array([5.0]))[0, 0] == pytest.approx(0.75 * 5 + 0.25 * 20)


def test_sigma0_is_esa_formula_with_the_noise_of_range_times_azimuth() -> None:
    calibration = SparseLut(
        np.array([0.0, 100.0]), (np.array([0.0, 100.0]),) * 2, (np.array([400.0, 500.0]),) * 2
    )
    noise = ThermalNoise(
        SparseLut(np.array([0.0, 100.0]), (np.array([0.0, 100.0]),) * 2, (np.array([1000.0, 3000.0]),) * 2),
        (
            AzimuthNoiseBlock(0, 100, 0, 49, np.array([0.0, 100.0]), np.array([1.0, 2.0])),
            AzimuthNoiseBlock(0, 100, 50, 100, np.array([0.0, 100.0]), np.array([0.5, 0.5])),
        ),
    )
    rows, cols = np.array([0.0, 50.0]), np.array([0.0, 25.0, 50.0])
    dn = np.array([[300, 30, 0], [250, 600, 900]], dtype=np.uint16)
    result = sigma0(dn, rows, cols, calibration, noise)
    a = 400.0 + cols  # A_sigma grows 1 per pixel
    range_noise = 1000.0 + 20.0 * cols
    azimuth = np.array([[1.0, 1.0, 0.5], [1.5, 1.5, 0.5]])
    expected = (dn.astype(float) ** 2 - range_noise * azimuth) / a**2
    expected = np.where(expected > NOISE_FLOOR, expected, NOISE_FLOOR)
    expected[0, 2] = np.nan  # DN 0: the product's no-data border
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    assert result[0, 1] == np.float32(NOISE_FLOOR)  # 30^2 = 900 < the noise 1500: clipped, not negative
    assert result.dtype == np.float32


def test_power_to_db() -> None:
    np.testing.assert_allclose(
        power_to_db(np.array([1.0, 0.1, 1e-5, np.nan, 0.0])), [0, -10, -50, np.nan, np.nan]
    )


def test_old_noise_tables_are_used_before_ipf_2_90() -> None:
    xml = b"""<noise><noiseVectorList count="2">
      <noiseVector><line>0</line><pixel>0 10</pixel><noiseLut>100 200</noiseLut></noiseVector>
      <noiseVector><line>10</line><pixel>0 10</pixel><noiseLut>300 400</noiseLut></noiseVector>
    </noiseVectorList></noise>"""
    noise = parse_noise(xml, name="old.xml", ipf_version=2.84)
    assert noise.azimuth_blocks == ()
    assert noise.interpolate(np.array([5.0]), np.array([5.0]))[0, 0] == pytest.approx(250.0)
    with pytest.raises(InputRasterError, match="noiseRangeVectorList"):
        parse_noise(xml, name="old.xml", ipf_version=3.10)


def test_real_manifests_give_ipf_3_31() -> None:
    assert ipf_version((GRD_DIR / "manifest.safe").read_bytes()) == pytest.approx(3.31)
    assert ipf_version((SLC_CALIBRATION_DIR.parents[1] / "manifest.safe").read_text()) == pytest.approx(3.31)
    assert ipf_version("<manifest/>") is None


def test_real_calibration_table_is_read_and_interpolated_like_an_independent_grid_interpolator() -> None:
    table = parse_calibration(SLC_CALIBRATION.read_bytes(), name=SLC_CALIBRATION.name)
    assert len(table.lines) == 30 and table.lines[0] == -1042 and table.lines[-1] == 14661
    assert all(len(p) == 542 and p[1] == 40 and p[-1] == 21631 for p in table.pixels)
    assert table.values[0][0] == pytest.approx(331.923)
    # at the nodes the table itself; between them a bilinear grid interpolator's values
    assert table.interpolate(np.array([-1042.0]), np.array([0.0]))[0, 0] == pytest.approx(331.923)
    oracle = RegularGridInterpolator((table.lines, table.pixels[0]), np.array(table.values))
    rows, cols = np.linspace(0, 13508, 41), np.linspace(0, 21631, 57)
    points = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)
    np.testing.assert_allclose(table.interpolate(rows, cols), oracle(points), rtol=1e-12)


def test_real_noise_table_uses_range_times_azimuth_at_ipf_3_31() -> None:
    noise = parse_noise(SLC_NOISE.read_bytes(), name=SLC_NOISE.name, ipf_version=3.31)
    assert len(noise.range_lut.lines) == 10 and noise.range_lut.lines[0] == -1501
    (block,) = noise.azimuth_blocks
    assert (block.first_line, block.last_line, block.first_sample, block.last_sample) == (0, 13508, 0, 21631)
    assert len(block.lines) == 1359 and np.sum(np.diff(block.lines) == 1) == 8
    rows, cols = np.array([0.0, 1500.0, 1501.0, 7777.0]), np.array([0.0, 40.0, 10000.0])
    oracle = RegularGridInterpolator(
        (noise.range_lut.lines, noise.range_lut.pixels[0]), np.array(noise.range_lut.values)
    )
    points = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1)
    expected = oracle(points) * np.interp(rows, block.lines, block.values)[:, None]
    np.testing.assert_allclose(noise.interpolate(rows, cols), expected, rtol=1e-12)
    # the file's first azimuth value applies at line 0
    assert noise.interpolate(np.array([0.0]), np.array([0.0]))[0, 0] == pytest.approx(
        noise.range_lut.interpolate(np.array([0.0]), np.array([0.0]))[0, 0] * 1.156654
    )


def test_damaged_annotation_is_a_clear_error() -> None:
    with pytest.raises(InputRasterError, match="not valid XML"):
        parse_calibration(b"<calibration><calibrationVectorList>", name="cut.xml")
    with pytest.raises(InputRasterError, match="is not a Sentinel-1 calibration annotation"):
        parse_calibration(SLC_NOISE.read_bytes(), name=SLC_NOISE.name)
    with pytest.raises(InputRasterError, match="sigmaNought"):
        parse_calibration(b"<calibration><calibrationVectorList/></calibration>", name="empty.xml")
