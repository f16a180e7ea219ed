"""Remove clouds from a whole Sentinel-2 scene with GLF-CR, tile by tile, in bounded memory.

``remove_clouds`` checks the settings, opens the inputs, loads the network and hands the scene to the
strip loop (``strip_runner``), which blends overlapping tiles (``blending``) and optionally keeps clear
pixels (``keep_clear``); the file is written atomically in the output format of ``output_writer``.

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
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...version import plugin_version
from ..errors import GlfcrWarning, OutputWriteError, ParameterValueError
from ..io.alignment import SarOnOpticalGrid
from ..io.band_order import warn_on_band_order
from ..io.normalization import S2_L1C_BANDS
from ..io.raster_io import (
    atomic_output,
    open_raster,
    output_profile,
    sha256_file,
)
from ..io.sentinel1.inputs import open_sar_source
from .cloud_detector import scene_shadow_statistics
from .keep_clear import ClearPixelShare
from .output_writer import OUTPUT_BLOCK_SIZE, copy_to_cog, output_dtype, output_nodata, scratch_path
from .strip_runner import BatchPredictor, StageTimings, StepCallback, StripRunner
from .tiling import TileGrid, validate_tiling

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

MODEL_NAME = "GLF-CR"

# progress shares of the optional stages (the tiles take the rest)
_MASK_PASS_SHARE = 0.1
_COG_SHARE = 0.05

PathLike = str | os.PathLike[str]
ProgressCallback = Callable[[float], None]
CancelCheck = Callable[[], bool]


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
        sar_summary: the SAR input and how it became sigma0 dB (scale, convention, calibration).
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
    sar_summary: str = ""


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
    sar_scale: str = "auto",
    sar_vh_path: PathLike | None = None,
    progress: ProgressCallback | None = None,
    is_canceled: CancelCheck | None = None,
) -> RemoveCloudsResult:
    """Predict the cloud-free version of a Sentinel-2 L1C scene with GLF-CR and write it as a GeoTIFF.

    The output has the optical raster's CRS, transform and size, 13 bands named B1..B12 (B8A) in
    digital numbers (reflectance x 10000), tiled and deflate-compressed, and records the model,
    checkpoint SHA-256, tile size, overlap and plugin version in its metadata.

    Args:
        cloudy_path: Sentinel-2 L1C raster, 13 bands in the order B1..B12 with B8A after B8, DN.
        sar_path: Sentinel-1 VV and VH: a raster (bands found by name, else VV then VH; dB, linear power or
            amplitude; sigma0, or gamma0 converted with its incidence angle), or a GRD product (``.zip``,
            ``.SAFE``) calibrated to sigma0 and placed by its geolocation grid, without terrain correction.
            Any CRS, resolution or extent that overlaps the optical raster: it is resampled (bilinear, in
            dB) onto the optical grid window by window.
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
        sar_scale: "auto" (from the SAR's metadata, else its values), "db", "linear" (power) or
            "amplitude"; recorded in the output's metadata with the convention.
        sar_vh_path: a separate raster holding VH, when ``sar_path`` holds VV only.
        progress: called with the fraction done, 0..1, after every stage of the network (several times
            per tile) and every block of the cloud-mask pass.
        is_canceled: polled between the network's stages and the cloud-mask pass's blocks; when it
            returns True the run stops within seconds and writes nothing.

    Returns:
        What was done, with timings per stage.

    Raises:
        RasterReadError: an input cannot be opened or read.
        InputRasterError: wrong band counts, or grids that cannot be related.
        NoOverlapError: the SAR does not overlap the optical raster.
        TileSizeError: unusable tile size or overlap.
        ParameterValueError: batch size below 1, an unknown output type, precision or SAR scale, a SAR
            scale "auto" cannot tell, or bfloat16 on a CPU without native bfloat16 (float32 is faster).
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
    dtype = output_dtype(output_type)
    torch_device = _device_for(device, precision)
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
        open_sar_source(sar_path, vh_path=sar_vh_path, scale=sar_scale) as sar,
    ):
        warn_on_band_order(optical.descriptions, S2_L1C_BANDS, role="cloudy optical")
        grid = TileGrid.for_scene(optical.height, optical.width, tile_size, overlap)
        with SarOnOpticalGrid(optical, sar) as aligned:
            model, checksum = _prepare_model(weights, torch_device)
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
            run = StripRunner(
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
            tags.update(sar.tags)
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
            inputs = [path for path in (cloudy_path, sar_path, sar_vh_path) if path]
            with atomic_output(output_path, inputs=inputs) as temp:
                if cog:
                    with scratch_path(temp) as plain:
                        run.write(plain, profile, tags)
                        with timings.stage("write"):
                            copy_to_cog(plain, temp, predictor=profile["predictor"])
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
        sar_summary=sar.summary,
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


def _device_for(device: str | torch.device, precision: str) -> torch.device:
    """The torch device named by ``device``, once ``precision`` is known to run well there."""
    from ..model.device import resolve_device
    from ..model.inference import check_precision

    torch_device = resolve_device(device)
    check_precision(precision, torch_device)
    return torch_device


def _prepare_model(weights: PathLike | nn.Module, device: torch.device) -> tuple[nn.Module, str]:
    """Get the model in eval mode on ``device`` and the checkpoint's SHA-256 ("" for a model object)."""
    from ..model.inference import prepare_model

    model = prepare_model(weights, device)
    checksum = sha256_file(weights) if isinstance(weights, str | os.PathLike) else ""
    return model, checksum


def _batch_predictor(model: nn.Module, device: torch.device, precision: str) -> BatchPredictor:
    """Wrap the network for NumPy batches: float32 (B, 13, T, T) and (B, 2, T, T) -> (B, 13, T, T)."""
    import torch

    from ..model.inference import predict

    def run(cloudy: np.ndarray, sar: np.ndarray, on_step: StepCallback | None = None) -> np.ndarray:
        inputs = torch.from_numpy(cloudy).to(device), torch.from_numpy(sar).to(device)
        return predict(model, *inputs, precision=precision, on_step=on_step).float().cpu().numpy()

    return run


