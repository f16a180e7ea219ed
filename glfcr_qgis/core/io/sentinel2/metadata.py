"""What a Sentinel-2 product's main metadata file says: level, processing baseline, offsets, special values.

Read from ``MTD_MSIL1C.xml`` (or another level's main file) with the standard library, namespace-agnostic,
so old and new schema versions read alike. ESA numbers bands 0..12 in the order B1..B8, B8A, B9..B12
(``bandId``, spelled ``band_id`` in ``RADIO_ADD_OFFSET``): the order GLF-CR uses.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

from ...errors import InputRasterError, RasterReadError
from ..normalization import OPTICAL_SCALE, S2_L1C_BANDS

# the root element's name -> the processing level it holds
_LEVELS = {"Level-1C_User_Product": "L1C", "Level-2A_User_Product": "L2A", "Level-1B_User_Product": "L1B"}
# baseline from which L1C products carry RADIO_ADD_OFFSET (January 2022, and reprocessed older data)
OFFSET_BASELINE = (4, 0)


@dataclass(frozen=True)
class ProductMetadata:
    """The facts of a product's main metadata file that reading it as GLF-CR's input depends on.

    Attributes:
        level: "L1C", "L2A", "L1B", or "" when the file is no Sentinel-2 user product.
        product_type: ``PRODUCT_TYPE`` (e.g. "S2MSI1C").
        processing_baseline: ``PROCESSING_BASELINE`` as written (e.g. "05.09").
        product_uri: ``PRODUCT_URI`` (the SAFE folder's name), "" when empty.
        spacecraft: ``SPACECRAFT_NAME``.
        sensing_start: ``PRODUCT_START_TIME``.
        quantification: ``QUANTIFICATION_VALUE``: reflectance = (DN + offset) / quantification.
        radiometric_offsets: band name -> ``RADIO_ADD_OFFSET`` (empty before baseline 04.00).
        nodata: the ``NODATA`` special value (DN of pixels without data).
        saturated: the ``SATURATED`` special value, or None when not given.
    """

    level: str
    product_type: str = ""
    processing_baseline: str = ""
    product_uri: str = ""
    spacecraft: str = ""
    sensing_start: str = ""
    quantification: float = OPTICAL_SCALE
    radiometric_offsets: dict[str, float] = field(default_factory=dict)
    nodata: int = 0
    saturated: int | None = None

    def baseline_version(self) -> tuple[int, int] | None:
        """The processing baseline as (major, minor), or None when it is missing or unreadable."""
        major, _, minor = self.processing_baseline.strip().partition(".")
        try:
            return int(major), int(minor or 0)
        except ValueError:
            return None

    def offset(self, band: str) -> float:
        """``RADIO_ADD_OFFSET`` of ``band`` (0 when the product has none)."""
        return self.radiometric_offsets.get(band, 0.0)


def product_level(xml: bytes) -> str:
    """The processing level a main metadata file declares ("L1C", "L2A", "L1B"), "" for other XML."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return ""
    return _LEVELS.get(_local_name(root.tag), "")


def parse_product_metadata(xml: bytes, *, source: str) -> ProductMetadata:
    """Read the fields of :class:`ProductMetadata` from a product's main metadata file.

    Args:
        xml: the file's bytes (UTF-8; some units hold non-ASCII characters).
        source: the file's path, for messages.

    Raises:
        RasterReadError: the file is not well-formed XML (a truncated download).
        InputRasterError: a value GLF-CR's reading depends on is missing or not a number.
    """
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as err:
        raise RasterReadError(
            f"The Sentinel-2 metadata file {source} is not valid XML ({err}); the download is incomplete "
            "or damaged: download the product again."
        ) from err
    level = _LEVELS.get(_local_name(root.tag), "")
    if not level:
        return ProductMetadata(level="")
    quantification = _number(
        _text(root, "QUANTIFICATION_VALUE") or str(OPTICAL_SCALE), "QUANTIFICATION_VALUE", source
    )
    if quantification <= 0:
        raise InputRasterError(
            f"The Sentinel-2 metadata file {source} gives QUANTIFICATION_VALUE {quantification:g}; a product "
            "needs a positive value: download the product again."
        )
    specials = {
        (_text(item, "SPECIAL_VALUE_TEXT") or "").upper(): _text(item, "SPECIAL_VALUE_INDEX")
        for item in _elements(root, "Special_Values")
    }
    offsets: dict[str, float] = {}
    for item in _elements(root, "RADIO_ADD_OFFSET"):
        band_id = item.get("band_id", item.get("bandId", ""))
        if not band_id.isdigit() or int(band_id) >= len(S2_L1C_BANDS):
            raise InputRasterError(
                f"The Sentinel-2 metadata file {source} has a RADIO_ADD_OFFSET for an unknown band "
                f"{band_id!r}; it is not a Sentinel-2 L1C product GLF-CR can read."
            )
        offsets[S2_L1C_BANDS[int(band_id)]] = _number(item.text or "", "RADIO_ADD_OFFSET", source)
    return ProductMetadata(
        level=level,
        product_type=_text(root, "PRODUCT_TYPE") or "",
        processing_baseline=_text(root, "PROCESSING_BASELINE") or "",
        product_uri=_text(root, "PRODUCT_URI") or "",
        spacecraft=_text(root, "SPACECRAFT_NAME") or "",
        sensing_start=_text(root, "PRODUCT_START_TIME") or "",
        quantification=quantification,
        radiometric_offsets=offsets,
        nodata=int(_number(specials.get("NODATA") or "0", "NODATA", source)),
        saturated=int(_number(specials["SATURATED"], "SATURATED", source))
        if specials.get("SATURATED")
        else None,
    )


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _elements(root: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    # "{*}name" matches the element in any namespace or none (ESA qualifies only the top elements)
    return root.findall(f".//{{*}}{name}")


def _text(root: ElementTree.Element, name: str) -> str | None:
    found = _elements(root, name)
    return found[0].text.strip() if found and found[0].text else None


def _number(text: str, name: str, source: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InputRasterError(
            f"The Sentinel-2 metadata file {source} gives {name} as {text!r}, which is not a number; "
            "download the product again."
        ) from None
