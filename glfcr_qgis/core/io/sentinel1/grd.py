"""Sentinel-1 GRD products (``.SAFE`` folder or ``.zip``) as a SarSource: DN to sigma0, placed by GCPs.

GDAL's SAFE driver gives GRD digital numbers only, so calibration is done here (``calibration``) from the
product's own annotation: ``annotation/calibration/calibration-*.xml`` (sigmaNought) and ``noise-*.xml``
(thermal noise), per polarisation. The image is in radar geometry (ground range x azimuth); it is placed
on the map with the annotation's geolocation grid, a few hundred points (line, pixel, latitude,
longitude), used as GDAL ground control points with a thin-plate spline, which passes through every
point. Each point's pixel and line index name a pixel centre, so they sit at +0.5 in GDAL's convention
(0 at the image's corner).

There is no terrain correction: the grid's points lie at the terrain height of the product's coarse
height model, and between them the image is interpolated, so on slopes the SAR is displaced by about
h / tan(incidence) for a height error h. Only VV+VH products (1SDV) fit the network.
"""

from __future__ import annotations

import os
import re
import warnings
import xml.etree.ElementTree as ElementTree
from contextlib import ExitStack
from typing import Any

import numpy as np
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.coords import BoundingBox
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError
from rasterio.features import geometry_mask
from rasterio.warp import transform as transform_points
from rasterio.windows import Window

from ...errors import GlfcrWarning, InputRasterError, RasterReadError
from ..grids import coarse_grid
from .calibration import SparseLut, ThermalNoise, ipf_version, parse_calibration, parse_noise, sigma0
from .safe_files import MANIFEST, SafeFiles
from .sar_source import SarSource

WGS84 = CRS.from_epsg(4326)
POLARISATIONS: tuple[str, str] = ("VV", "VH")
# s1b-iw-grd-vv-20210401t052623-20210401t052648-026269-032297-001.xml (and .tiff)
_FILE = re.compile(r"^s1[a-d]-[a-z0-9]+-(?P<kind>[a-z]+)-(?P<pol>hh|hv|vv|vh)-[0-9a-z-]+\.(xml|tiff?)$")
# the TPS takes the GCPs as they are; GDAL would fit a polynomial by default
WARP_METHOD = "GCP_TPS"


class GrdProduct(SarSource):
    """A dual-polarisation (VV+VH) Sentinel-1 GRD product, read as sigma0 (linear power) in radar geometry.

    Attributes:
        product: the product name.
        ipf: the processor (IPF) version, or None when the manifest does not say.
        incidence_mid_swath: incidence angle at mid swath, degrees.
        points: (n, 5) geolocation grid: line, pixel, latitude, longitude, height.

    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        """Read the product's annotation and open its measurement files.

        Raises:
            RasterReadError: the product is not a SAFE product or one of its files is missing or unreadable.
            InputRasterError: not Sentinel-1 GRD, not VV+VH, or inconsistent files.

        """
        self._stack = ExitStack()
        files = SafeFiles(path)
        manifest = files.read(MANIFEST).decode("utf-8", "replace")
        self._check_product(manifest, files)
        self.product = files.name
        self.name = files.name
        self.ipf = ipf_version(manifest)
        paths = self._polarisation_files(files)
        annotation = _xml(files.read(paths["VV"]["annotation"]), paths["VV"]["annotation"])
        info = annotation.find("imageAnnotation/imageInformation")
        self.width = int(_text(info, "numberOfSamples", paths["VV"]["annotation"]))
        self.height = int(_text(info, "numberOfLines", paths["VV"]["annotation"]))
        self.incidence_mid_swath = float(_text(info, "incidenceAngleMidSwath", paths["VV"]["annotation"]))
        denoised = (
            annotation.findtext("imageAnnotation/processingInformation/thermalNoiseCorrectionPerformed")
            or "false"
        ).strip().lower() == "true"
        self.points = _geolocation_grid(annotation, paths["VV"]["annotation"])
        self._calibration: dict[str, SparseLut] = {}
        self._noise: dict[str, ThermalNoise | None] = {}
        self._datasets: dict[str, Any] = {}
        try:
            for pol in POLARISATIONS:
                names = paths[pol]
                self._calibration[pol] = parse_calibration(
                    files.read(names["calibration"]), name=names["calibration"]
                )
                self._noise[pol] = (
                    None
                    if denoised
                    else parse_noise(files.read(names["noise"]), name=names["noise"], ipf_version=self.ipf)
                )
                self._datasets[pol] = self._open_measurement(files, names["measurement"])
        except BaseException:
            self._stack.close()
            raise
        lat, lon = self.points[:, 2], self.points[:, 3]
        if np.ptp(lon) > 180.0:
            self._stack.close()
            raise InputRasterError(
                f"The Sentinel-1 product {self.product} crosses the antimeridian, which its geolocation grid "
                "cannot be interpolated across here; use a terrain-corrected product in a projected CRS."
            )
        from scipy.interpolate import RBFInterpolator

        # the inverse of GDAL's GCP_TPS transformer (map -> image) is this same spline: used to find which
        # image pixels lie under an output window before GDAL warps them
        self._to_image = RBFInterpolator(
            np.column_stack([lon, lat]), self.points[:, [1, 0]] + 0.5, kernel="thin_plate_spline"
        )
        self.crs = WGS84
        self.transform = None
        self.bounds = BoundingBox(float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))
        self.in_db = False
        self.tags = {
            "sar_input": self.product,
            "sar_scale": "GRD digital numbers, calibrated to sigma0 dB",
            "sar_calibration": "sigma0 = (DN^2 - noise) / sigmaNought^2 from the product's calibration "
            "and noise "
            f"annotation (IPF {self.ipf if self.ipf is not None else 'unknown'}"
            f"{', noise already removed by the processor' if denoised else ''})",
            "sar_convention": "sigma0",
            "sar_geocoding": "geolocation grid GCPs, thin-plate spline, bilinear; no terrain correction",
        }
        self.summary = (
            f"SAR {self.product}: GRD calibrated to sigma0 dB (IPF {self.ipf}), geocoded with its "
            f"{len(self.points)}-point geolocation grid, without terrain correction."
        )
        warnings.warn(
            f"The GRD product {self.product} is placed with its geolocation grid, without terrain "
            "correction: on "
            "slopes the SAR is displaced by about h / tan(incidence) (about "
            f"{1.0 / np.tan(np.radians(self.incidence_mid_swath)):.1f} x the height error h at mid "
            "swath); use a "
            "terrain-corrected product there.",
            GlfcrWarning,
            stacklevel=2,
        )

    @staticmethod
    def _check_product(manifest: str, files: SafeFiles) -> None:
        if "SENTINEL-1" not in manifest.upper():
            raise InputRasterError(
                f"{files.path} is not a Sentinel-1 product; give a Sentinel-1 GRD product."
            )
        match = re.search(r"<s1sarl1:productType>\s*(\w+)\s*<", manifest)
        kind = match.group(1).upper() if match else "unknown"
        if kind != "GRD":
            raise InputRasterError(
                f"The Sentinel-1 product {files.name} is of type {kind}; only GRD products (GRDH, GRDM) "
                "can be "
                "calibrated and geocoded here: use the GRD product of the acquisition, or a calibrated "
                "raster."
            )

    @staticmethod
    def _polarisation_files(files: SafeFiles) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for name in files.names:
            folder, _, base = name.rpartition("/")
            match = _FILE.match(base.removeprefix("calibration-").removeprefix("noise-"))
            if not match:
                continue
            role = {
                "annotation": "annotation",
                "measurement": "measurement",
                "annotation/calibration": "calibration" if base.startswith("calibration-") else "noise",
            }.get(folder)
            if role:
                found.setdefault(match.group("pol").upper(), {})[role] = name
        pols = sorted(found)
        if pols and not {"VV", "VH"} <= set(pols):
            others = "+".join(pols)
            raise InputRasterError(
                f"The Sentinel-1 product {files.name} holds {others}; GLF-CR needs VV and VH (IW dual "
                "polarisation, 1SDV products): use the 1SDV product of the area."
            )
        for pol in POLARISATIONS:
            missing = [
                role
                for role in ("annotation", "calibration", "noise", "measurement")
                if role not in found.get(pol, {})
            ]
            if missing:
                raise RasterReadError(
                    f"The Sentinel-1 product {files.name} lacks the {pol} {', '.join(missing)} file"
                    f"{'s' if len(missing) > 1 else ''}; re-download the complete product."
                )
        return found

    def _open_measurement(self, files: SafeFiles, name: str) -> Any:
        path = files.gdal_path(name)
        try:
            with warnings.catch_warnings():
                # ESA's measurement files carry GCPs, copies may not: the annotation places the image anyway
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                dataset = self._stack.enter_context(rasterio.open(path))
        except (RasterioError, RasterioIOError) as err:
            raise RasterReadError(
                f"Cannot read the measurement {name} of the Sentinel-1 product {files.name}: {err}; "
                "re-download "
                "the product."
            ) from err
        if (dataset.width, dataset.height) != (self.width, self.height):
            raise InputRasterError(
                f"The measurement {name} of {files.name} is {dataset.width} x {dataset.height} pixels "
                "but its "
                f"annotation says {self.width} x {self.height}; the product is damaged: re-download it."
            )
        return dataset

    def read(self, window: Window) -> np.ndarray:
        """VV and VH sigma0 (linear power) of ``window`` of the image: float32 (2, h, w), NaN at DN 0."""
        window = window.round_offsets().round_lengths()
        rows = np.arange(window.row_off, window.row_off + window.height)
        cols = np.arange(window.col_off, window.col_off + window.width)
        out = np.empty((2, len(rows), len(cols)), dtype=np.float32)
        for index, pol in enumerate(POLARISATIONS):
            try:
                dn = self._datasets[pol].read(1, window=window)
            except (RasterioError, RasterioIOError) as err:
                raise RasterReadError(
                    f"Cannot read {window} of the {pol} measurement of {self.product}: {err}; the file "
                    "may be "
                    "truncated: re-download the product."
                ) from err
            out[index] = sigma0(dn, rows, cols, self._calibration[pol], self._noise[pol])
        return out

    def gcps(self, window: Window | None = None) -> list[GroundControlPoint]:
        """The geolocation grid as GDAL GCPs, pixel centres at +0.5, relative to ``window``'s corner."""
        row_off = 0.0 if window is None else float(window.row_off)
        col_off = 0.0 if window is None else float(window.col_off)
        return [
            GroundControlPoint(row=line + 0.5 - row_off, col=pixel + 0.5 - col_off, x=lon, y=lat, z=height)
            for line, pixel, lat, lon, height in self.points
        ]

    def georeference(self, window: Window) -> dict[str, Any]:
        """GCPs relative to ``window`` and the thin-plate spline method, for ``rasterio.warp.reproject``."""
        return {"gcps": self.gcps(window), "SRC_METHOD": WARP_METHOD}

    def image_coordinates(self, crs: Any, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Image columns and rows (0 at the corner) of points in ``crs``, by the inverse thin-plate spline."""
        lon, lat = transform_points(crs, WGS84, np.ravel(xs), np.ravel(ys))
        lon, lat = np.asarray(lon), np.asarray(lat)
        cols = np.full(lon.shape, np.nan)
        rows = np.full(lon.shape, np.nan)
        ok = np.isfinite(lon) & np.isfinite(lat)
        if ok.any():
            image = self._to_image(np.column_stack([lon[ok], lat[ok]]))
            cols[ok], rows[ok] = image[:, 0], image[:, 1]
        return cols, rows

    def coverage(self, grid: Any) -> float:
        """Share of ``grid`` inside the image footprint (the outline of the geolocation grid, coarse grid).

        DN-0 borders inside the footprint count as covered; they are a few hundred metres wide.
        """
        transform, width, height = coarse_grid(grid)
        lines, pixels = self.points[:, 0], self.points[:, 1]
        outline = []
        # the grid's edge points in order around the image: first line, last pixel, last line, first pixel
        for mask, key, reverse in (
            (lines == lines.min(), pixels, False),
            (pixels == pixels.max(), lines, False),
            (lines == lines.max(), pixels, True),
            (pixels == pixels.min(), lines, True),
        ):
            edge = self.points[mask][np.argsort(key[mask])]
            outline.append(edge[::-1] if reverse else edge)
        ring = np.concatenate(outline)
        xs, ys = transform_points(WGS84, grid.crs, ring[:, 3], ring[:, 2])
        footprint = {"type": "Polygon", "coordinates": [list(zip(xs, ys, strict=True))]}
        inside = geometry_mask([footprint], (height, width), transform, invert=True)
        return float(np.mean(inside))

    def close(self) -> None:
        """Close the measurement files."""
        self._stack.close()


def _xml(data: bytes, name: str) -> ElementTree.Element:
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise InputRasterError(
            f"The Sentinel-1 annotation {name} is not valid XML ({err}); re-download the product."
        ) from err


def _text(element: ElementTree.Element | None, tag: str, name: str) -> str:
    value = element.findtext(tag) if element is not None else None
    if not value:
        raise InputRasterError(f"The Sentinel-1 annotation {name} lacks {tag}; re-download the product.")
    return value


def _geolocation_grid(annotation: ElementTree.Element, name: str) -> np.ndarray:
    points = annotation.findall("geolocationGrid/geolocationGridPointList/geolocationGridPoint")
    if len(points) < 3:
        raise InputRasterError(
            f"The Sentinel-1 annotation {name} has {len(points)} geolocation grid points, too few to "
            "place the "
            "image; re-download the product."
        )
    tags = ("line", "pixel", "latitude", "longitude", "height")
    return np.array([[float(_text(point, tag, name)) for tag in tags] for point in points])
