"""Sentinel-2 L1C products as GLF-CR inputs: finding them, reading their metadata, stacking, preparing.

Public names are re-exported here and imported on first use (PEP 562).
"""

from __future__ import annotations

from ...lazy import lazy_exports

# public name -> module of this package that defines it
_EXPORTS = {
    "ProductMetadata": "metadata",
    "parse_product_metadata": "metadata",
    "ProductLocation": "product",
    "find_product": "product",
    "looks_like_product": "product",
    "read_product_metadata": "product",
    "open_product": "stack",
    "product_stack_vrt": "stack",
    "harmonisation_tags": "stack",
    "prepare_sentinel2": "prepare",
    "PrepareResult": "prepare",
}

__all__ = list(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
