"""Remove clouds from a whole Sentinel-2 scene with GLF-CR, tile by tile, in bounded memory.

``remove_clouds`` checks the settings, opens the inputs, loads the network and hands the scene to the
strip loop (``strip_runner``), which blends overlapping tiles (``blending``) and optionally keeps clear
pixels (``keep_clear``); the file is written atomically in the output format of ``output_writer``.

Missing data: optical pixels equal to the raster's nodata (or NaN), and SAR pixels that are nodata,
NaN or outside the SAR footprint, are filled for the network as the authors' data loader fills NaN,
with the mean of the tile's valid values of that raster (all its bands together), and are written as
nodata in the output. A scene that is a single tile therefore reproduces the authors' pipeline exactly.

With ``keep_clear``, pixels the cloud mask (``mask_methods``: the authors' detector with scene-wide
statistics from a first pass, s2cloudless, or the product's own mask) calls clear keep their input
values; the prediction fades in over a few pixels towards cloud and shadow pixels. The optional
provenance raster (``provenance``) records per pixel whether the output was observed, predicted (under
cloud, shadow or in clear sky) or blended.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ...version import plugin_version
from ..errors import GlfcrWarning, OutputWriteError
from ..io.alignment import SarOnOpticalGrid
from ..io.area_of_interest import AreaOfInterest
from ..io.band_order import warn_on_band_order
from ..io.normalization import S2_L1C_BANDS
from ..io.optical_input import open_optical, optical_input_tags
from ..io.raster_io import (
    atomic_output,
    output_profile,
    sha256_file,
)
from ..io.sentinel1.inputs import open_sar_source
from .batching import CudaMemory
from .device_blending import DeviceBlending
from .keep_clear import ClearPixelShare
from .mask_methods import DEFAULT_MASK_METHOD, check_mask_method, open_window_masker
from .output_writer import OUTPUT_BLOCK_SIZE, copy_to_cog, output_nodata, scratch_path
from .predictors import batch_predictor, uses_device_blending
from .provenance import ProvenanceRecorder, new_provenance_raster
from .run_settings import SETTINGS_TAG, check_settings, settings_record
from .strip_runner import StageTimings, StripRunner
from .tiling import TileGrid

if TYPE_CHECKING:  # torch is imported when a run starts, so the defaults here can be read without it
    import torch
    from torch import nn

# Defaults from bench/ on the 2-core CPU (BENCHMARKS.md): the network runs 16.4-17.5k px/s for tiles of
# 256 to 384 and 14.3k at 512, so the largest tile before that drop, 384, gives the least overlap for the
# same speed (tiles shrink to just cover the scene: 368 on a 1024 scene, 1.16x its pixels; 384 on a
# full Sentinel-2 tile, 1.25x). A 32-pixel overlap (16 at the network's half resolution) is blended
# away; batches above 1 were slower on the CPU (256 x 4: 14.8k px/s against 17.4k), so the automatic batch
# size is 1 there and measured from the free memory on a GPU (``batching``).
DEFAULT_TILE_SIZE = 384
DEFAULT_OVERLAP = 32
# the Remove Clouds algorithm's batch-size value for "automatic" (``remove_clouds(batch_size=None)``)
DEFAULT_BATCH_SIZE = 0

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
        timings: busy seconds per stage.
        mask_method: the cloud mask method used (keep-clear or provenance), None when no mask was made.
        provenance_path: the provenance raster written, or None.
        provenance_counts: pixels per provenance class (``provenance.PROVENANCE_NAMES``), when written.
        batch_size: tiles per batch at the end of the run (after any halving on out-of-memory errors).
        tile_memory: peak device memory of one tile in bytes, measured on the first tile of a GPU run
            with an automatic batch size (None otherwise).

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
    mask_method: str | None = None
    provenance_path: Path | None = None
    provenance_counts: dict[str, int] = field(default_factory=dict)
    sar_summary: str = ""
    batch_size: int = 1
    tile_memory: int | None = None


def remove_clouds(
    cloudy_path: PathLike,
    sar_path: PathLike,
    weights: PathLike | nn.Module,
    output_path: PathLike,
    *,
    tile_size: int = DEFAULT_TILE_SIZE,
    overlap: int = DEFAULT_OVERLAP,
    batch_size: int | None = None,
    device: str | torch.device = "auto",
    output_type: str = "UInt16",
    keep_clear: bool = False,
    cog: bool = False,
    precision: str = "float32",
    mask_method: str | int = DEFAULT_MASK_METHOD,
    product_path: PathLike | None = None,
    provenance_path: PathLike | None = None,
    sar_scale: str = "auto",
    sar_vh_path: PathLike | None = None,
    extent: AreaOfInterest | None = None,
    progress: ProgressCallback | None = None,
    is_canceled: CancelCheck | None = None,
) -> RemoveCloudsResult:
    """Predict the cloud-free version of a Sentinel-2 L1C scene with GLF-CR and write it as a GeoTIFF.

    The output has the optical raster's CRS, transform and size, 13 bands named B1..B12 (B8A) in
    digital numbers (reflectance x 10000), tiled and deflate-compressed, and records the model,
    checkpoint SHA-256, tile size, overlap and plugin version in its metadata.

    Args:
        cloudy_path: Sentinel-2 L1C raster, 13 bands in the order B1..B12 with B8A after B8, DN; or an L1C
            product (``.SAFE`` folder, ``MTD_MSIL1C.xml``, ``.zip``, ``SENTINEL2_L1C:`` subdataset), read
            harmonised on its 10 m grid (``core.io.optical_input.open_optical``).
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
        batch_size: tiles per forward pass, or None (default) to choose: 1 on the CPU; on a GPU from the
            free memory and the measured memory of the first tile. On a GPU out-of-memory error the batch
            is halved and the run goes on, down to one tile.
        device: "auto", "cpu", "cuda" or "cuda:N".
        output_type: "UInt16" (rounded and clipped to 0..65535) or "Float32".
        keep_clear: keep the input values where the cloud mask finds the pixel clear, with a transition
            of a few pixels into the predicted cloud and shadow areas.
        cog: write a Cloud Optimized GeoTIFF with overviews.
        precision: "float32" (exact), "bfloat16" or "float16" (CUDA only): autocast of the network's
            convolutions and matrix products (see ``core.inference.predict``).
        mask_method: the cloud mask of ``keep_clear`` and of the provenance: ``"authors"`` (0, the GLF-CR
            authors' detector), ``"s2cloudless"`` (1) or ``"product"`` (2, the L1C product's own mask).
        product_path: the L1C product whose mask the ``product`` method reads; defaults to the cloudy
            image when it is a product.
        provenance_path: optional Byte GeoTIFF on the same grid recording where each output value comes
            from (``provenance``: 0 observed, 1/2/3 predicted under cloud/shadow/clear sky, 4 blended,
            255 nodata); written atomically with the output.
        sar_scale: "auto" (from the SAR's metadata, else its values), "db", "linear" (power) or
            "amplitude"; recorded in the output's metadata with the convention.
        sar_vh_path: a separate raster holding VH, when ``sar_path`` holds VV only.
        extent: optional area of interest: only the window of the cloudy image covering it is read,
            processed and written (the output's transform is the window's).
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
        ParameterValueError: batch size below 1, an unknown output type, precision, mask method or SAR
            scale, a SAR scale "auto" cannot tell, or bfloat16 on a CPU without native bfloat16 (float32
            is faster).
        MissingDependencyError: the s2cloudless mask method without its packages.
        CheckpointError: the weights cannot be read or are not GLF-CR's.
        DeviceError: the device is not available, or a single tile does not fit in the GPU's memory.
        OutputWriteError: the output cannot be written.
        ProcessingCanceled: ``is_canceled`` returned True; no output was left behind.

    """
    dtype = check_settings(
        tile_size=tile_size, overlap=overlap, batch_size=batch_size, output_type=output_type,
        precision=precision,
    )  # fmt: skip
    mask_method = check_mask_method(mask_method)
    torch_device = _device_for(device, precision)
    output_path = Path(output_path)
    provenance_path = Path(provenance_path) if provenance_path is not None else None
    for path in (output_path, provenance_path):
        if path is not None and path.suffix.lower() not in (".tif", ".tiff"):
            raise OutputWriteError(
                f"Remove Clouds writes GeoTIFF files, but the output {path} does not end in .tif: "
                "name the output with a .tif extension."
            )
    if provenance_path is not None and provenance_path.absolute() == output_path.absolute():
        raise OutputWriteError(
            f"The provenance and the cloud-free image are both {output_path}: give them different names."
        )
    use_mask = keep_clear or provenance_path is not None
    report = progress or (lambda fraction: None)
    canceled = is_canceled or (lambda: False)
    timings = StageTimings()

    with (
        open_optical(cloudy_path, role="cloudy optical", extent=extent) as optical,
        open_sar_source(sar_path, vh_path=sar_vh_path, scale=sar_scale) as sar,
    ):
        warn_on_band_order(optical.descriptions, S2_L1C_BANDS, role="cloudy optical")
        grid = TileGrid.for_scene(optical.height, optical.width, tile_size, overlap)
        with SarOnOpticalGrid(optical, sar) as aligned, ExitStack() as stack:
            model, checksum = _prepare_model(weights, torch_device)
            masker = None
            if use_mask:
                with timings.stage("mask"):
                    masker = stack.enter_context(
                        open_window_masker(
                            optical,
                            mask_method,
                            product=cloudy_path if product_path is None else product_path,
                            progress=lambda f: report(_MASK_PASS_SHARE * f),
                            is_canceled=canceled,
                        )
                    )
            clear_weights = ClearPixelShare(optical, masker.classify) if keep_clear and masker else None
            nodata = output_nodata(optical.nodata, dtype)
            tile_share = 1.0 - (_MASK_PASS_SHARE if use_mask else 0.0) - (_COG_SHARE if cog else 0.0)
            start = _MASK_PASS_SHARE if use_mask else 0.0
            on_device = uses_device_blending(torch_device)
            run = StripRunner(
                optical=optical,
                aligned=aligned,
                grid=grid,
                predict=batch_predictor(model, torch_device, precision, tensors=on_device),
                batch_size=None if batch_size is None else int(batch_size),
                dtype=dtype,
                nodata=nodata,
                clear_weights=clear_weights,
                timings=timings,
                progress=lambda fraction: report(start + tile_share * fraction),
                is_canceled=canceled,
                blending=DeviceBlending(grid, len(S2_L1C_BANDS), torch_device) if on_device else None,
                memory=CudaMemory(torch_device) if torch_device.type == "cuda" else None,
            )
            tags = output_tags(
                grid, checksum, keep_clear=keep_clear, sar_resampled=aligned.resampled, precision=precision
            ) | (masker.tags if masker else {})
            tags.update(sar.tags)
            tags.update(optical_input_tags(optical))
            tags[SETTINGS_TAG] = settings_record(
                tile_size=tile_size, overlap=overlap, batch_size=batch_size, device=device,
                output_type=output_type, keep_clear=keep_clear, cog=cog, precision=precision,
                mask_method=mask_method, sar_scale=sar_scale,
            )  # fmt: skip
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
            temp = stack.enter_context(atomic_output(output_path, inputs=inputs))
            recorder = None
            if provenance_path is not None and masker is not None:
                provenance_temp = stack.enter_context(atomic_output(provenance_path, inputs=inputs))
                provenance = stack.enter_context(
                    new_provenance_raster(provenance_temp, optical.profile, {**tags, "units": "class"})
                )
                recorder = run.row_hook = ProvenanceRecorder(provenance, masker.classify)
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
        mask_method=mask_method if use_mask else None,
        provenance_path=provenance_path,
        provenance_counts=recorder.class_counts() if recorder is not None else {},
        sar_summary=sar.summary,
        batch_size=run.policy.size,
        tile_memory=run.policy.measured_tile_bytes,
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
