"""Sentinel-1 SAR inputs: analysis-ready rasters in any scale or convention; GRD products calibrated.

``open_sar_source`` opens what the analyst has (a GRD ``.zip``/``.SAFE``, one raster with VV and VH, or
VV and VH as two files) as a ``SarSource`` that ``alignment.SarOnOpticalGrid`` warps onto the optical
grid; ``prepare_sentinel1`` writes it as the 2-band sigma0 dB GeoTIFF the network reads.

Public names are re-exported here and imported on first use (PEP 562).
"""

from __future__ import annotations

from ...lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "open_sar_source": "inputs",
    "SarSource": "sar_source",
    "RasterSarSource": "raster_source",
    "raster_sar_source": "raster_source",
    "plain_db_source": "raster_source",
    "GrdProduct": "grd",
    "SafeFiles": "safe_files",
    "is_sentinel1_product": "safe_files",
    "SparseLut": "calibration",
    "ThermalNoise": "calibration",
    "AzimuthNoiseBlock": "calibration",
    "NOISE_FLOOR": "calibration",
    "sigma0": "calibration",
    "power_to_db": "calibration",
    "parse_calibration": "calibration",
    "parse_noise": "calibration",
    "ipf_version": "calibration",
    "SCALES": "scale",
    "SCALE_LABELS": "scale",
    "ScaleChoice": "scale",
    "scale_from_metadata": "scale",
    "scale_from_values": "scale",
    "to_db": "scale",
    "SarBands": "bands",
    "find_sar_bands": "bands",
    "polarisation_of": "bands",
    "Convention": "convention",
    "sigma0_correction_db": "convention",
    "prepare_sentinel1": "preparation",
    "PrepareResult": "preparation",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
