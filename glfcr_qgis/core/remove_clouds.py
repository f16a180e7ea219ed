"""Remove clouds from a whole Sentinel-2 scene with GLF-CR, tile by tile, in bounded memory.

The scene is processed in horizontal strips, one row of tiles at a time: the strip is read (SAR
resampled onto the optical grid on the fly), its tiles go through the network in batches, the
predictions are blended into a strip-sized accumulator, and the rows no later tile touches are
written out while the overlap rows are carried to the next strip. Peak memory is about
``width x tile_size x 13 x 4 bytes`` times a small factor, whatever the scene's height.

Missing data: optical pixels equal to the raster's nodata (or NaN), and SAR pixels that are nodata,
NaN or outside the SAR footprint, are filled for the network as the authors' data loader fills NaN,
with the mean of the tile's valid values of that raster (all its bands together), and are written as
nodata in the output. A scene that is a single tile therefore reproduces the authors' pipeline exactly.

With ``keep_clear``, pixels the cloud detector (``cloud_mask``, scene-wide statistics from a first
pass) calls clear keep their input values; the prediction fades in over a few pixels towards cloud
and shadow pixels.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import rasterio
import rasterio.shutil
import scipy.ndimage
from rasterio.windows import Window

from ..version import plugin_version
from .alignment import SarOnOpticalGrid
from .cloud_mask import CLOUD, SHADOW, ShadowStatistics, scene_shadow_statistics, window_cloud_shadow_mask
from .errors import GlfcrWarning, OutputWriteError, ParameterValueError, ProcessingCanceled
from .normalization import (
    OPTICAL_SCALE,
    S1_BANDS,
    S2_L1C_BANDS,
    fill_nan_with_mean,
    normalize_optical,
    normalize_sar,
)
from .raster_io import (
    atomic_output,
    nodata_mask,
    open_raster,
    output_profile,
    read_window,
    remove_raster_files,
    set_band_descriptions,
    sha256_file,
)
from .tiling import TileGrid, reflect_index, validate_tiling

if TYPE_CHECKING:  # torch is imported when a run starts, so the defaults here can be read without it
    import torch
    from torch import nn

# Defaults from bench/ on the 2-core CPU (BENCHMARKS.md): the network runs 16.4-17.5k px/s for tiles of
# 256 to 384 and 14.3k at 512, so the largest tile before that drop, 384, gives the least overlap for the
# same speed (tiles shrink to just cover the scene: 368 on a 1024 scene, 1.16x its pixels; 384 on a
# full Sentinel-2 tile, 1.25x). A 32-pixel overlap (16 at the network's half resolution) is blended
# away; batches above 1 were slower on the CPU (256 x 4: 14.8k px/s against 17.4k).
DEFAULT_TILE_SIZE = 384
DEFAULT_OVERLAP = 32
DEFAULT_BATCH_SIZE = 1

OUTPUT_TYPES: tuple[str, ...] = ("UInt16", "Float32")
OUTPUT_BLOCK_SIZE = 512
MODEL_NAME = "GLF-CR"
UINT16_MAX = 65535
# pixels over which kept clear pixels fade into predicted cloud and shadow pixels (keep_clear)
KEEP_CLEAR_FEATHER = 5

# progress shares of the optional stages (the tiles take the rest)
_MASK_PASS_SHARE = 0.1
_COG_SHARE = 0.05

PathLike = str | os.PathLike[str]
ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]
BatchPredictor = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class StageTimings:
    """Seconds spent in each stage of a run.

    Attributes:
        mask: the cloud-mask pass over the scene (``keep_clear`` only).
        read: reading windows (SAR resampling included), filling gaps and normalising.
        infer: the network's forward passes (device transfers included).
        blend: weighting, accumulating and finishing predictions (clear-pixel mixing included).
        write: writing the output (COG conversion included).

    """

    mask: float = 0.0
    read: float = 0.0
    infer: float = 0.0
    blend: float = 0.0
    write: float = 0.0

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Add the time spent inside the ``with`` block to stage ``name``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            setattr(self, name, getattr(self, name) + time.perf_counter() - start)


@dataclass(frozen=True)
class RemoveCloudsResult:
    """What a ``remove_clouds`` run did.

    Attributes:
        output_path: the GeoTIFF written.
        tiles: tiles in the grid (tiles without any valid pixel are skipped, not run).
        tiles_run: tiles that went through the network.
        tile_size: tile side actually used (smaller than asked for scenes smaller than one tile).
        overlap: overlap actually used, in pixels.
        overlap_cost: pixels processed by the network per scene pixel (>= 1).
        covered_fraction: estimated fraction of the optical grid covered by the SAR.
        valid_fraction: fraction of output pixels that hold data (not nodata).
        sar_resampled: whether the SAR was resampled onto the optical grid.
        device: the torch device the network ran on.
        checkpoint_sha256: SHA-256 of the checkpoint file ("" when a model object was passed).
        timings: seconds per stage.

    """

    output_path: Path
    tiles: int
    tiles_run: int
    tile_size: int
    overlap: int
    overlap_cost: float
    covered_fraction: float
    valid_fraction: float
    sar_resampled: bool
    device: str
    checkpoint_sha256: str
    timings: StageTimings = field(default_factory=StageTimings)


def remove_clouds(
    cloudy_path: PathLike,
    sar_path: PathLike,
    weights: PathLike | nn.Module,
    output_path: PathLike,
    *,
    tile_size: int = DEFAULT_TILE_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int = DEFAULT_BATCH_SIZE,
    device: str | torch.device = "auto",
    output_type: str = "UInt16",
    keep_clear: bool = False,
    cog: bool = False,
    precision: str = "float32",
    progress: ProgressCallback | None = None,
    is_canceled: CancelCheck | None = None,
) -> RemoveCloudsResult:
    """Predict the cloud-free version of a Sentinel-2 L1C scene with GLF-CR and write it as a GeoTIFF.

    The output has the optical raster's CRS, transform and size, 13 bands named B1..B12 (B8A) in
    digital numbers (reflectance x 10000), tiled and deflate-compressed, and records the model,
    checkpoint SHA-256, tile size, overlap and plugin version in its metadata.

    Args:
        cloudy_path: Sentinel-2 L1C raster, 13 bands in the order B1..B12 with B8A after B8, DN.
        sar_path: Sentinel-1 GRD raster, 2 bands VV, VH in dB; any CRS, resolution or extent that overlaps
            the optical raster (it is resampled bilinearly onto the optical grid when the grids differ).
        weights: GLF-CR checkpoint file, or an already loaded model taking normalised
            (B, 13, H, W) and (B, 2, H, W) tensors (it is moved to ``device``).
        output_path: GeoTIFF to write (``.tif``); written to a temporary file and moved into place.
        tile_size: tile side in pixels, a multiple of 16.
        overlap: pixels shared by neighbouring tiles, blended smoothly; ``0 <= overlap < tile_size / 2``.
        batch_size: tiles per forward pass.
        device: "auto", "cpu", "cuda" or "cuda:N".
        output_type: "UInt16" (rounded and clipped to 0..65535) or "Float32".
        keep_clear: keep the input values where the cloud mask finds the pixel clear, with a transition
            of a few pixels into the predicted cloud and shadow areas.
        cog: write a Cloud Optimized GeoTIFF with overviews.
        precision: "float32" (exact), "bfloat16" or "float16" (CUDA only): autocast of the network's
            convolutions and matrix products (see ``core.inference.predict``).
        progress: called with the fraction done, 0..1, after every batch.
        is_canceled: polled before every batch; when it returns True the run stops and writes nothing.

    Returns:
        What was done, with timings per stage.

    Raises:
        RasterReadError: an input cannot be opened or read.
        InputRasterError: wrong band counts, or grids that cannot be related.
        NoOverlapError: the SAR does not overlap the optical raster.
        TileSizeError: unusable tile size or overlap.
        ParameterValueError: batch size below 1, or an unknown output type or precision.
        CheckpointError: the weights cannot be read or are not GLF-CR's.
        DeviceError: the device is not available.
        OutputWriteError: the output cannot be written.
        ProcessingCanceled: ``is_canceled`` returned True; no output was left behind.

    """
    validate_tiling(tile_size, overlap)
    if int(batch_size) != batch_size or batch_size < 1:
        raise ParameterValueError(
            f"Batch size {batch_size} is not a positive whole number of tiles; use 1 or more."
        )
    dtype = _output_dtype(output_type)
    _check_precision(precision)
    output_path = Path(output_path)
    if output_path.suffix.lower() not in (".tif", ".tiff"):
        raise OutputWriteError(
            f"Remove Clouds writes GeoTIFF files, but the output {output_path} does not end in .tif: "
            "name the output with a .tif extension."
        )
    report = progress or (lambda fraction: None)
    canceled = is_canceled or (lambda: False)
    timings = StageTimings()

    with (
        open_raster(cloudy_path, role="cloudy optical", expected_bands=len(S2_L1C_BANDS)) as optical,
        open_raster(sar_path, role="SAR", expected_bands=len(S1_BANDS)) as sar,
    ):
        warn_on_band_order(optical.descriptions, S2_L1C_BANDS, role="cloudy optical")
        warn_on_band_order(sar.descriptions, S1_BANDS, role="SAR")
        grid = TileGrid.for_scene(optical.height, optical.width, tile_size, overlap)
        with SarOnOpticalGrid(optical, sar) as aligned:
            model, torch_device, checksum = _prepare_model(weights, device)
            clear_weights = None
            if keep_clear:
                with timings.stage("mask"):
                    stats = scene_shadow_statistics(
                        optical, progress=lambda f: report(_MASK_PASS_SHARE * f), is_canceled=canceled
                    )
                clear_weights = ClearPixelShare(optical, stats)
            nodata = output_nodata(optical.nodata, dtype)
            tile_share = 1.0 - (_MASK_PASS_SHARE if keep_clear else 0.0) - (_COG_SHARE if cog else 0.0)
            start = _MASK_PASS_SHARE if keep_clear else 0.0
            run = _SceneRun(
                optical=optical,
                aligned=aligned,
                grid=grid,
                predict=_batch_predictor(model, torch_device, precision),
                batch_size=int(batch_size),
                dtype=dtype,
                nodata=nodata,
                clear_weights=clear_weights,
                timings=timings,
                progress=lambda fraction: report(start + tile_share * fraction),
                is_canceled=canceled,
            )
            tags = output_tags(
                grid, checksum, keep_clear=keep_clear, sar_resampled=aligned.resampled, precision=precision
            )
            profile = output_profile(
                optical.profile,
                count=len(S2_L1C_BANDS),
                dtype=dtype,
                nodata=nodata,
                blocksize=OUTPUT_BLOCK_SIZE,
                predictor=3 if dtype == np.float32 else 2,
                # deflate is the slowest part of writing; GDAL spreads it over the cores
                num_threads="ALL_CPUS",
            )
            with atomic_output(output_path, inputs=[cloudy_path, sar_path]) as temp:
                if cog:
                    with _scratch_path(temp) as plain:
                        run.write(plain, profile, tags)
                        with timings.stage("write"):
                            _copy_to_cog(plain, temp, predictor=profile["predictor"])
                else:
                    run.write(temp, profile, tags)
            report(1.0)
    if run.valid_pixels == 0:
        warnings.warn(
            "No pixel has both optical and SAR data, so the output is nodata everywhere; check the inputs' "
            "nodata values and that the SAR covers the optical image.",
            GlfcrWarning,
            stacklevel=2,
        )
    return RemoveCloudsResult(
        output_path=output_path,
        tiles=grid.tile_count,
        tiles_run=run.tiles_run,
        tile_size=grid.tile_size,
        overlap=grid.overlap,
        overlap_cost=grid.overlap_cost,
        covered_fraction=aligned.covered_fraction,
        valid_fraction=run.valid_pixels / (grid.height * grid.width),
        sar_resampled=aligned.resampled,
        device=str(torch_device),
        checkpoint_sha256=checksum,
        timings=timings,
    )


def output_tags(
    grid: TileGrid, checksum: str, *, keep_clear: bool, sar_resampled: bool, precision: str = "float32"
) -> dict[str, str]:
    """Metadata recorded in the output GeoTIFF: model, checkpoint, tiling, software version.

    Args:
        grid: the tiling used.
        checksum: SHA-256 of the checkpoint file, or "" when unknown (left out then).
        keep_clear: whether clear pixels kept their input values.
        sar_resampled: whether the SAR was resampled onto the optical grid.
        precision: the arithmetic the network ran in.

    """
    tags = {
        "model": MODEL_NAME,
        "tile_size": str(grid.tile_size),
        "overlap": str(grid.overlap),
        "software_version": f"glfcr_qgis {plugin_version()}",
        "units": "Sentinel-2 L1C digital numbers (reflectance x 10000)",
        "keep_clear": str(bool(keep_clear)),
        "sar_resampled": str(bool(sar_resampled)),
        "precision": precision,
    }
    if checksum:
        tags["checkpoint_sha256"] = checksum
    return tags


def _check_precision(precision: str) -> None:
    from .inference import PRECISIONS

    if precision not in PRECISIONS:
        raise ParameterValueError(
            f"Precision {precision!r} is not available; use one of {', '.join(PRECISIONS)}."
        )


def _output_dtype(output_type: str) -> type[np.generic]:
    names = {name.lower(): name for name in OUTPUT_TYPES}
    key = str(output_type).lower()
    if key not in names:
        raise ParameterValueError(
            f"Output type {output_type!r} is not available; use one of {', '.join(OUTPUT_TYPES)}."
        )
    return np.uint16 if names[key] == "UInt16" else np.float32


def output_nodata(input_nodata: float | None, dtype: type[np.generic]) -> float:
    """Nodata value of the output: the optical input's if the output type holds it, else 0 (UInt16) or NaN.

    Args:
        input_nodata: the optical raster's nodata value, or None.
        dtype: ``numpy.uint16`` or ``numpy.float32``.

    """
    if dtype == np.uint16:
        if input_nodata is not None and np.isfinite(input_nodata) and float(input_nodata).is_integer():
            if 0 <= input_nodata <= UINT16_MAX:
                return float(input_nodata)
        return 0.0
    if input_nodata is not None:
        return float(input_nodata)
    return float("nan")


_BAND_TOKEN = re.compile(r"\b(B0?(\d{1,2})(A?)|VV|VH|HH|HV)\b", re.IGNORECASE)


def _band_name(description: str | None) -> str | None:
    """The band name a description states ("B04 red" -> "B4", "vh" -> "VH"), or None when it names none."""
    match = _BAND_TOKEN.search(description or "")
    if match is None:
        return None
    if match.group(2) is None:
        return match.group(1).upper()
    return f"B{int(match.group(2))}{match.group(3).upper()}"


def warn_on_band_order(descriptions: Sequence[str | None], expected: Sequence[str], *, role: str) -> None:
    """Warn (GlfcrWarning) when band descriptions name bands in another order than the model expects.

    Descriptions that name no band (empty, "Band 1") are not evidence either way and are ignored.

    Args:
        descriptions: the raster's band descriptions (``dataset.descriptions``).
        expected: the band names in the order the model needs them.
        role: what the raster is for, used in the message.

    """
    found = [_band_name(text) for text in descriptions]
    clashes = [
        f"band {index} is described as {text!r}"
        for index, (text, name, want) in enumerate(zip(descriptions, found, expected, strict=False), start=1)
        if name is not None and name != want
    ]
    if clashes:
        warnings.warn(
            f"The {role} raster's band descriptions contradict the order the model needs "
            f"({', '.join(expected)}): {'; '.join(clashes[:4])}{'; ...' if len(clashes) > 4 else ''}. "
            "The bands are used by position; reorder them (e.g. with Rearrange bands) if the descriptions "
            "are right.",
            GlfcrWarning,
            stacklevel=2,
        )


def _prepare_model(
    weights: PathLike | nn.Module, device: str | torch.device
) -> tuple[nn.Module, torch.device, str]:
    """Get the model in eval mode on the device, the device, and the checkpoint's SHA-256 ("" for a model)."""
    from .device import resolve_device
    from .inference import prepare_model

    torch_device = resolve_device(device)
    model = prepare_model(weights, torch_device)
    checksum = sha256_file(weights) if isinstance(weights, str | os.PathLike) else ""
    return model, torch_device, checksum


def _batch_predictor(model: nn.Module, device: torch.device, precision: str) -> BatchPredictor:
    """Wrap the network for NumPy batches: float32 (B, 13, T, T) and (B, 2, T, T) -> (B, 13, T, T)."""
    import torch

    from .inference import predict

    def run(cloudy: np.ndarray, sar: np.ndarray) -> np.ndarray:
        inputs = torch.from_numpy(cloudy).to(device), torch.from_numpy(sar).to(device)
        return predict(model, *inputs, precision=precision).float().cpu().numpy()

    return run


class ClearPixelShare:
    """How much of the network's prediction each output pixel takes when clear pixels are kept.

    1 on cloud and cloud-shadow pixels of the cloud mask (the authors' detector, threshold 0.2, with
    scene-wide shadow statistics), falling linearly to 0 at ``feather`` pixels from the nearest one, so
    clear pixels keep their input values and the seam between kept and predicted pixels is soft.
    """

    def __init__(self, optical: Any, stats: ShadowStatistics, feather: int = KEEP_CLEAR_FEATHER) -> None:
        """Prepare the share computation.

        Args:
            optical: open 13-band L1C dataset (read again, window by window).
            stats: scene-wide statistics from ``scene_shadow_statistics``.
            feather: width of the transition in pixels (>= 1).

        """
        self.optical = optical
        self.stats = stats
        self.feather = int(feather)

    def __call__(self, top: int, count: int) -> np.ndarray:
        """Share of the prediction for scene rows ``top`` to ``top + count - 1``.

        Returns:
            float32 (count, width) in [0, 1].

        """
        # the feather reaches `feather` rows beyond the block
        grown_top = max(0, top - self.feather)
        grown_bottom = min(self.optical.height, top + count + self.feather)
        window = Window(0, grown_top, self.optical.width, grown_bottom - grown_top)
        classes, _ = window_cloud_shadow_mask(self.optical, window, self.stats)
        cloudy = (classes == CLOUD) | (classes == SHADOW)
        share = np.zeros(cloudy.shape, dtype=np.float32)
        if cloudy.any():
            distance = scipy.ndimage.distance_transform_edt(~cloudy)
            share = np.clip(1.0 - distance / self.feather, 0.0, 1.0).astype(np.float32)
        return share[top - grown_top : top - grown_top + count]


@contextmanager
def _scratch_path(beside: Path) -> Iterator[Path]:
    """A path for an intermediate raster in the folder of ``beside``; the file and its sidecars go at exit."""
    path = beside.with_name(f"{beside.stem}.plain{beside.suffix}")
    try:
        yield path
    finally:
        remove_raster_files(path)


def _copy_to_cog(source: Path, destination: Path, *, predictor: int) -> None:
    """Rewrite a GeoTIFF as a Cloud Optimized GeoTIFF with averaged overviews."""
    rasterio.shutil.copy(
        source,
        destination,
        driver="COG",
        COMPRESS="DEFLATE",
        PREDICTOR=str(predictor),
        BLOCKSIZE=str(OUTPUT_BLOCK_SIZE),
        BIGTIFF="IF_SAFER",
        OVERVIEWS="AUTO",
        OVERVIEW_RESAMPLING="AVERAGE",
    )


class _SceneRun:
    """One pass of the network over a scene, strip by strip, writing the blended result."""

    def __init__(
        self,
        *,
        optical: Any,
        aligned: SarOnOpticalGrid,
        grid: TileGrid,
        predict: BatchPredictor,
        batch_size: int,
        dtype: type[np.generic],
        nodata: float,
        clear_weights: ClearPixelShare | None,
        timings: StageTimings,
        progress: ProgressCallback,
        is_canceled: CancelCheck,
    ) -> None:
        self.optical = optical
        self.aligned = aligned
        self.grid = grid
        self.predict = predict
        self.batch_size = batch_size
        self.dtype = dtype
        self.nodata = nodata
        self.clear_weights = clear_weights
        self.timings = timings
        self.progress = progress
        self.is_canceled = is_canceled
        self.tiles_done = 0
        self.tiles_run = 0
        self.valid_pixels = 0
        bands = len(S2_L1C_BANDS)
        # weighted sum of predictions and of weights over one tile row, padded width
        self._values = np.zeros((bands, grid.tile_size, grid.padded_width), dtype=np.float32)
        self._weights = np.zeros((grid.tile_size, grid.padded_width), dtype=np.float32)
        self._columns = reflect_index(np.arange(grid.padded_width), grid.width)
        self._weights_by_sides: dict[tuple[bool, ...], np.ndarray] = {}

    def write(self, path: Path, profile: dict[str, Any], tags: dict[str, str]) -> None:
        """Run every tile and write the blended scene to ``path`` (a new GeoTIFF)."""
        with rasterio.open(path, "w", **profile) as destination:
            set_band_descriptions(destination, S2_L1C_BANDS)
            destination.update_tags(**tags)
            for row in range(self.grid.rows):
                self._run_tile_row(row, destination)
            with self.timings.stage("write"):
                # GDAL compresses the blocks it still holds when the file closes: time it as writing
                destination.close()

    def _run_tile_row(self, row: int, destination: Any) -> None:
        grid = self.grid
        with self.timings.stage("read"):
            cloudy, sar = self._read_strip(row)
            valid = ~(np.isnan(cloudy).any(axis=0) | np.isnan(sar).any(axis=0))
        batch: list[tuple[int, np.ndarray, np.ndarray]] = []
        for col in range(grid.cols):
            left = grid.origin(col)
            window = np.s_[..., left : left + grid.tile_size]
            if not valid[window].any():
                # nothing of this tile reaches the output; its pixels stay nodata
                self.tiles_done += 1
                continue
            with self.timings.stage("read"):
                batch.append((col, *_network_inputs(cloudy[window], sar[window])))
            if len(batch) == self.batch_size:
                self._run_batch(row, batch)
                batch = []
        if batch:
            self._run_batch(row, batch)
        self.progress(self.tiles_done / grid.tile_count)
        top = grid.origin(row)
        finished = grid.height - top if row == grid.rows - 1 else grid.stride
        with self.timings.stage("blend"):
            block = self._finish_rows(
                finished, cloudy[:, :finished, : grid.width], valid[:finished, : grid.width], top
            )
        with self.timings.stage("write"):
            destination.write(block, window=Window(0, top, grid.width, finished))
        self._carry_overlap()

    def _read_strip(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """Read one tile row, padded at the scene edges.

        Returns:
            Optical DN float32 (13, tile, padded width) and SAR dB float32 (2, tile, padded width),
            NaN where data is missing.

        """
        grid = self.grid
        rows = reflect_index(grid.origin(row) + np.arange(grid.tile_size), grid.height)
        top, bottom = int(rows.min()), int(rows.max()) + 1
        window = Window(0, top, grid.width, bottom - top)
        raw = read_window(self.optical, window, role="cloudy optical")
        cloudy = raw.astype(np.float32)
        cloudy[:, nodata_mask(raw, self.optical.nodatavals)] = np.nan
        sar = self.aligned.read(window)
        pick = np.ix_(rows - top, self._columns)
        return cloudy[:, pick[0], pick[1]], sar[:, pick[0], pick[1]]

    def _run_batch(self, row: int, batch: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        if self.is_canceled():
            raise ProcessingCanceled("Remove Clouds was canceled; no output was written.")
        with self.timings.stage("infer"):
            prediction = self.predict(
                np.stack([item[1] for item in batch]), np.stack([item[2] for item in batch])
            )
        with self.timings.stage("blend"):
            size = self.grid.tile_size
            for (col, _, _), tile in zip(batch, prediction, strict=True):
                weights = self._tile_weights(row, col)
                left = self.grid.origin(col)
                self._values[:, :, left : left + size] += tile * weights
                self._weights[:, left : left + size] += weights
        self.tiles_done += len(batch)
        self.tiles_run += len(batch)
        self.progress(self.tiles_done / self.grid.tile_count)

    def _tile_weights(self, row: int, col: int) -> np.ndarray:
        """Blending weights of a tile, computed once per kind of tile (edge sides differ)."""
        grid = self.grid
        key = (row > 0, row < grid.rows - 1, col > 0, col < grid.cols - 1)
        if key not in self._weights_by_sides:
            self._weights_by_sides[key] = grid.weights(row, col)
        return self._weights_by_sides[key]

    def _finish_rows(self, count: int, cloudy_dn: np.ndarray, valid: np.ndarray, top: int) -> np.ndarray:
        """The first ``count`` accumulated rows as output values: (13, count, width) in the output type."""
        width = self.grid.width
        weights = self._weights[:count, :width]
        valid = valid & (weights > 0)
        dn = np.divide(
            self._values[:, :count, :width],
            weights,
            out=np.zeros((len(S2_L1C_BANDS), count, width), np.float32),
            where=valid,
        )
        dn *= np.float32(OPTICAL_SCALE)
        if self.clear_weights is not None:
            network_share = self.clear_weights(top, count)
            dn = network_share * dn + (1.0 - network_share) * np.nan_to_num(cloudy_dn)
        self.valid_pixels += int(valid.sum())
        return _to_output_type(dn, valid, self.dtype, self.nodata)

    def _carry_overlap(self) -> None:
        """Shift the rows the next tile row still adds to (the overlap) to the top; clear the rest."""
        stride, overlap = self.grid.stride, self.grid.overlap
        if overlap:
            self._values[:, :overlap] = self._values[:, stride : stride + overlap]
            self._weights[:overlap] = self._weights[stride : stride + overlap]
        self._values[:, overlap:] = 0.0
        self._weights[overlap:] = 0.0


def _network_inputs(cloudy_dn: np.ndarray, sar_db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fill gaps and normalise one tile: (13, T, T) DN and (2, T, T) dB with NaN gaps -> float32 inputs."""
    # the authors' loader: NaN -> mean of the whole array (all bands), then clip and scale
    cloudy = normalize_optical(fill_nan_with_mean(cloudy_dn.copy()))
    sar = normalize_sar(fill_nan_with_mean(sar_db.copy()))
    return cloudy, sar


def _to_output_type(dn: np.ndarray, valid: np.ndarray, dtype: type[np.generic], nodata: float) -> np.ndarray:
    """DN float32 (13, H, W) -> the output type, nodata where not ``valid`` and never nodata where valid.

    Readers mark a pixel missing when any band equals nodata, so a valid value that happens to equal it
    is nudged by the smallest step (1 DN for UInt16).
    """
    if dtype == np.uint16:
        out = np.clip(np.rint(dn), 0, UINT16_MAX).astype(np.uint16)
        clash = (out == nodata) & valid
        out[clash] = nodata + 1 if nodata < UINT16_MAX else nodata - 1
        out[:, ~valid] = int(nodata)
        return out
    out = dn.astype(np.float32, copy=False)
    if not np.isnan(nodata):
        clash = (out == np.float32(nodata)) & valid
        out[clash] = np.nextafter(np.float32(nodata), np.float32(np.inf))
    out[:, ~valid] = np.float32(nodata)
    return out
