"""Analysis-ready SAR rasters as a SarSource: VV/VH by name, any scale, sigma0 or gamma0, one or two files.

Each window is read on the raster's own grid and turned into sigma0 dB there (``scale.to_db``, then the
gamma0/beta0 correction of ``convention``), before it is resampled onto the optical grid: values are
always resampled in dB, as dB input always was, so the same scene in dB, linear power or amplitude
gives the same result.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
from rasterio import windows
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.warp import transform as transform_points
from rasterio.windows import Window

from ...errors import GlfcrWarning, InputRasterError, ParameterValueError, RasterReadError
from ..grids import estimate_coverage, same_grid
from .bands import BandRef, SarBands, find_sar_bands
from .convention import SIGMA0, Convention, convention_from_metadata, sigma0_correction_db, warn_unconverted
from .sar_source import SarSource
from .scale import (
    SCALE_LABELS,
    ScaleChoice,
    check_scale,
    scale_from_metadata,
    scale_from_values,
    to_db,
    undecided_scale_message,
)

# windows sampled for the value test: a 3 x 3 spread of 128 px squares, cheap on any raster size
SAMPLE_SPREAD = 3
SAMPLE_SIDE = 128
# VV medians (dB) outside this range mean the scale the metadata gave is wrong, or the data uncalibrated
PLAUSIBLE_VV_DB = (-40.0, 15.0)
# tag keys whose values may state the scale or convention
_TAG_HINTS = ("scale", "unit", "convention", "expression", "backscatter", "radiometr", "normali", "calibrat")


class RasterSarSource(SarSource):
    """VV and VH from one or two rasters, converted to sigma0 dB window by window."""

    def __init__(
        self,
        datasets: tuple[Any, ...],
        bands: SarBands,
        scale: ScaleChoice,
        convention: Convention | None = None,
    ) -> None:
        """Wrap open datasets whose bands, scale and convention are known.

        Args:
            datasets: the SAR raster and, when VH comes apart, the VH raster (same grid).
            bands: where VV, VH and the incidence angle are.
            scale: the scale the values are in.
            convention: sigma0, or gamma0/beta0 and how to convert it.

        Raises:
            InputRasterError: the two files are not on the same grid.

        """
        main = datasets[0]
        if len(datasets) == 2 and not same_grid(main, datasets[1]):
            raise InputRasterError(
                f"The VH file {os.path.basename(datasets[1].name)} is not on the grid of the SAR file "
                f"{os.path.basename(main.name)} (CRS, extent and pixel size must match); warp one onto the "
                "other (Raster > Projections > Warp) first."
            )
        self.datasets = datasets
        self.bands = bands
        self.scale = scale
        self.convention = convention = convention or Convention()
        self.name = os.path.basename(str(main.name))
        self.crs, self.transform = main.crs, main.transform
        self.width, self.height, self.bounds = main.width, main.height, main.bounds
        self.in_db = True
        self._correct = convention.kind != SIGMA0 and (
            bands.incidence is not None or convention.incidence is not None
        )
        described = convention.description(incidence_band=bands.incidence is not None)
        self.tags = {
            "sar_input": " + ".join(os.path.basename(str(d.name)) for d in datasets),
            "sar_bands": f"VV {_where(bands.vv, datasets)}, VH {_where(bands.vh, datasets)}",
            "sar_scale": scale.label,
            "sar_scale_from": scale.reason,
            "sar_convention": described,
        }
        self.summary = f"SAR {self.tags['sar_input']}: {scale.label} (from {scale.reason}), {described}."

    def read(self, window: Window) -> np.ndarray:
        """VV and VH sigma0 dB in ``window`` of the raster grid: float32 (2, h, w), NaN where missing."""
        db = np.stack(
            [to_db(self._band(ref, window), self.scale.scale) for ref in (self.bands.vv, self.bands.vh)]
        )
        if self._correct:
            if self.bands.incidence is not None:
                angle: Any = self._band(self.bands.incidence, window)
            else:
                angle = self.convention.incidence
            db += sigma0_correction_db(self.convention.kind, angle)
        return db

    def _band(self, ref: BandRef, window: Window) -> np.ndarray:
        return read_band(self.datasets[ref.dataset], ref.band, window)

    def georeference(self, window: Window) -> dict[str, Any]:
        """The affine transform of ``window``."""
        return {"src_transform": windows.transform(window, self.transform)}

    def image_coordinates(self, crs: Any, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates of points given in ``crs`` (NaN where they cannot be transformed)."""
        if crs != self.crs and crs is not None and self.crs is not None:
            xs, ys = transform_points(crs, self.crs, np.ravel(xs), np.ravel(ys))
        cols, rows = ~self.transform * (np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64))
        return np.asarray(cols), np.asarray(rows)

    def coverage(self, grid: Any) -> float:
        """Share of ``grid`` where every file has data (coarse estimate)."""
        return min(estimate_coverage(grid, dataset) for dataset in self.datasets)


def plain_db_source(dataset: Any) -> RasterSarSource:
    """A 2-band raster taken as it is: band 1 VV and band 2 VH, sigma0 dB (what the network reads)."""
    bands = SarBands(vv=BandRef(0, 1, "VV"), vh=BandRef(0, 2, "VH"), incidence=None, by_name=False)
    return RasterSarSource((dataset,), bands, ScaleChoice("db", "the caller"))


def raster_sar_source(main: Any, vh_file: Any | None = None, scale: str = "auto") -> RasterSarSource:
    """Find the bands, scale and convention of SAR raster(s) and wrap them.

    Args:
        main: open dataset of the SAR raster.
        vh_file: open dataset of a separate VH raster, or None.
        scale: "auto" (metadata, else values), "db", "linear" or "amplitude".

    Raises:
        InputRasterError: unusable bands (see ``bands.find_sar_bands``) or files on different grids.
        ParameterValueError: ``scale`` is "auto" and neither metadata nor values tell it.

    """
    check_scale(scale)
    datasets = (main,) if vh_file is None else (main, vh_file)
    bands = find_sar_bands(main, vh_file)
    texts = metadata_texts(datasets, (bands.vv, bands.vh))
    name = " and ".join(os.path.basename(str(d.name)) for d in datasets)
    choice = resolve_scale(
        scale, texts, lambda: (_sample(datasets, bands.vv), _sample(datasets, bands.vh)), name
    )
    tags: dict[str, str] = {}
    for dataset in datasets:
        tags.update(dataset.tags())
    convention = convention_from_metadata(texts, tags)
    if convention.kind != SIGMA0 and bands.incidence is None and convention.incidence is None:
        warn_unconverted(convention, name)
    return RasterSarSource(datasets, bands, choice, convention)


def resolve_scale(requested: str, texts: list[tuple[str, str]], sample: Any, name: str) -> ScaleChoice:
    """The scale to use: the one requested, else the metadata's, else the values'.

    Args:
        requested: "auto", "db", "linear" or "amplitude".
        texts: (where, text) metadata pairs.
        sample: returns (VV values, VH values) samples when called.
        name: the input's name, for messages.

    Raises:
        ParameterValueError: "auto" and nothing tells the scale.

    """
    if requested != "auto":
        return ScaleChoice(requested, "the SAR_SCALE parameter")
    choice = scale_from_metadata(texts)
    vv, vh = sample()
    if choice is None:
        choice = scale_from_values(vv, vh)
        if choice is None:
            raise ParameterValueError(undecided_scale_message(name, vv, vh))
        return choice
    finite = vv[np.isfinite(vv)]
    if finite.size:
        vv_db = float(np.nanmedian(to_db(finite, choice.scale)))
        if not PLAUSIBLE_VV_DB[0] <= vv_db <= PLAUSIBLE_VV_DB[1]:
            warnings.warn(
                f"The SAR input {name} says it is in {SCALE_LABELS[choice.scale]} ({choice.reason}), but "
                "its VV "
                f"median is then {vv_db:.1f} dB, implausible for sigma0; check the SAR scale (SAR_SCALE) "
                "and that "
                "the values are calibrated.",
                GlfcrWarning,
                stacklevel=3,
            )
    return choice


def metadata_texts(datasets: tuple[Any, ...], refs: tuple[BandRef, ...]) -> list[tuple[str, str]]:
    """What the files say about the VV/VH bands: units, names, hinted tags, file names, in that order."""
    texts: list[tuple[str, str]] = []
    for ref in refs:
        dataset = datasets[ref.dataset]
        if dataset.units[ref.band - 1]:
            texts.append(("band units", dataset.units[ref.band - 1]))
        if ref.label:
            texts.append(("band description", ref.label))
        texts += _hinted_tags(dataset.tags(ref.band))
    for dataset in datasets:
        texts += _hinted_tags(dataset.tags())
        texts.append(("file name", os.path.basename(str(dataset.name))))
    return texts


def _hinted_tags(tags: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (f"tag {key}", str(value)) for key, value in tags.items() if any(h in key.lower() for h in _TAG_HINTS)
    ]


def _sample(datasets: tuple[Any, ...], ref: BandRef) -> np.ndarray:
    """Valid values of one band from a spread of small windows."""
    dataset = datasets[ref.dataset]
    side_w, side_h = min(SAMPLE_SIDE, dataset.width), min(SAMPLE_SIDE, dataset.height)
    values = []
    for i in range(SAMPLE_SPREAD):
        for j in range(SAMPLE_SPREAD):
            left = round((dataset.width - side_w) * (j + 0.5) / SAMPLE_SPREAD)
            top = round((dataset.height - side_h) * (i + 0.5) / SAMPLE_SPREAD)
            window = Window(left, top, side_w, side_h)
            values.append(read_band(dataset, ref.band, window))
    sample = np.concatenate([v.ravel() for v in values])
    return sample[np.isfinite(sample)]


def read_band(dataset: Any, band: int, window: Window) -> np.ndarray:
    """One band of ``window`` as float32, NaN at the band's nodata value.

    Raises:
        RasterReadError: GDAL cannot read the window (a truncated or corrupt file).

    """
    try:
        values = dataset.read(band, window=window, out_dtype=np.float32)
    except (RasterioError, RasterioIOError) as err:
        raise RasterReadError(
            f"Cannot read {window} of the SAR raster {dataset.name}: {err}. The file may be truncated or "
            "corrupt: re-download or re-export it."
        ) from err
    nodata = dataset.nodatavals[band - 1]
    if nodata is not None and not math.isnan(nodata):
        values[values == np.float32(nodata)] = np.nan
    return values


def _where(ref: BandRef, datasets: tuple[Any, ...]) -> str:
    label = f" ({ref.label})" if ref.label else ""
    return f"band {ref.band}{label} of {os.path.basename(str(datasets[ref.dataset].name))}"
