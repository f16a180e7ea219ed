"""Which bands of the SAR raster(s) hold VV, VH and, where given, the incidence angle.

Bands are found by what they are called: the band description (``VV``, ``Sigma0_VV_db``, ``Gamma0_VH``,
``vv``), GDAL's band metadata (``POLARISATION``) or, for a single-band file, the file name (SNAP's
``Sigma0_VH.img``, RTC products' ``..._VV.tif``). Bands that say nothing are taken in order, VV then VH,
with a warning. VV alone, or HH/HV (the other dual-polarisation mode), cannot feed a network trained on
VV+VH and are refused. VH may come as a second file (RTC products ship one file per polarisation).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from typing import Any

from ...errors import GlfcrWarning, InputRasterError

POLARISATIONS: tuple[str, ...] = ("VV", "VH", "HH", "HV")
_WORD = re.compile(r"[a-z0-9]+")
# Earth Engine's S1_GRD "angle", SNAP's "incidenceAngleFromEllipsoid", OPERA/ASF "local_incidence_angle"
_INCIDENCE = re.compile(r"incidence|(^|[^a-z])(angle|inc_?angle|lia)([^a-z]|$)", re.IGNORECASE)


@dataclass(frozen=True)
class BandRef:
    """One band of one of the SAR files.

    Attributes:
        dataset: 0 for the SAR file, 1 for the separate VH file.
        band: 1-based band index in that file.
        label: what the band is called (description, metadata or file name), "" when nothing.

    """

    dataset: int
    band: int
    label: str = ""


@dataclass(frozen=True)
class SarBands:
    """Where VV, VH and the incidence angle are.

    Attributes:
        vv: the VV band.
        vh: the VH band.
        incidence: a band holding the incidence angle in degrees, or None.
        by_name: whether VV and VH were identified by name (False: taken in order).

    """

    vv: BandRef
    vh: BandRef
    incidence: BandRef | None
    by_name: bool


def polarisation_of(text: str) -> str | None:
    """The polarisation a band or file name names (``Sigma0_VV_db`` -> "VV", ``iw-vh.rtc`` -> "VH"), or "
    "None."""
    for word in _WORD.findall(text.lower()):
        if word.upper() in POLARISATIONS:
            return word.upper()
    return None


def band_labels(dataset: Any) -> list[str]:
    """What each band of a dataset is called: description, else polarisation metadata, else the file name.

    The file name only names the band of a single-band file; for a multi-band file it says nothing of any
    one band.
    """
    labels = []
    for index, description in enumerate(dataset.descriptions, start=1):
        label = description or ""
        if not label:
            tags = dataset.tags(index)
            label = next((value for key, value in tags.items() if "POLARI" in key.upper()), "")
        if not label and dataset.count == 1:
            label = os.path.splitext(os.path.basename(str(dataset.name)))[0]
        labels.append(label)
    return labels


def find_sar_bands(main: Any, vh_file: Any | None = None) -> SarBands:
    """Locate VV, VH and the incidence angle in the SAR raster and, when given, the separate VH file.

    Args:
        main: open rasterio dataset of the SAR raster (VV, or VV and VH, and optionally an incidence band).
        vh_file: open rasterio dataset holding VH, or None when ``main`` holds both.

    Returns:
        The bands; a GlfcrWarning is issued when VV and VH were taken in order, not by name.

    Raises:
        InputRasterError: VV only, HH/HV, a swapped pair, or too few bands.

    """
    labels = [band_labels(main)] + ([band_labels(vh_file)] if vh_file is not None else [])
    names = [str(main.name)] + ([str(vh_file.name)] if vh_file is not None else [])
    polarised = [
        [
            BandRef(index, band, label)
            for band, label in enumerate(file_labels, start=1)
            if not _INCIDENCE.search(label)
        ]
        for index, file_labels in enumerate(labels)
    ]
    found: dict[str, BandRef] = {}
    for refs in polarised:
        for ref in refs:
            polarisation = polarisation_of(ref.label)
            if polarisation:
                found.setdefault(polarisation, ref)
    _refuse_other_modes(found, names)
    if vh_file is None:
        vv, vh, by_name = _pair_in_one_file(polarised[0], found, names[0])
    else:
        vv, vh, by_name = _pair_in_two_files(polarised, names)
    incidence = next(
        (
            BandRef(index, band, label)
            for index, file_labels in enumerate(labels)
            for band, label in enumerate(file_labels, start=1)
            if label and _INCIDENCE.search(label)
        ),
        None,
    )
    if not by_name:
        warnings.warn(
            f"The SAR bands are not named VV/VH, so band {vv.band} of "
            f"{os.path.basename(names[vv.dataset])} is "
            f"taken as VV and band {vh.band} of {os.path.basename(names[vh.dataset])} as VH; name the bands "
            "(band descriptions VV, VH) if that is wrong.",
            GlfcrWarning,
            stacklevel=2,
        )
    return SarBands(vv=vv, vh=vh, incidence=incidence, by_name=by_name)


def _refuse_other_modes(found: dict[str, BandRef], names: list[str]) -> None:
    if ("HH" in found or "HV" in found) and not ("VV" in found and "VH" in found):
        other = "/".join(pol for pol in ("HH", "HV") if pol in found)
        raise InputRasterError(
            f"The SAR input {os.path.basename(names[0])} holds {other} backscatter; GLF-CR was trained "
            "on VV and "
            "VH (Sentinel-1 IW dual polarisation 1SDV), so use a VV+VH acquisition of the area."
        )


def _pair_in_one_file(
    refs: list[BandRef], found: dict[str, BandRef], name: str
) -> tuple[BandRef, BandRef, bool]:
    if "VV" in found and "VH" in found:
        return found["VV"], found["VH"], True
    base = os.path.basename(name)
    if "VV" in found or "VH" in found:
        have, missing = ("VV", "VH") if "VV" in found else ("VH", "VV")
        raise InputRasterError(
            f"The SAR raster {base} has {have} but no {missing} band; GLF-CR needs both: give the {missing} "
            f"file as the second SAR input (SAR_VH{'' if missing == 'VH' else ', with VV as SAR'})."
        )
    if len(refs) < 2:
        raise InputRasterError(
            f"The SAR raster {base} has {len(refs)} backscatter band{'s' if len(refs) != 1 else ''}; GLF-CR "
            "needs VV and VH: give a 2-band raster, or VV as SAR and VH as a separate file (SAR_VH)."
        )
    return refs[0], refs[1], False


def _pair_in_two_files(polarised: list[list[BandRef]], names: list[str]) -> tuple[BandRef, BandRef, bool]:
    """VV from the SAR file and VH from the VH file; a single-band file is what its parameter says it is."""
    picks = []
    by_name = True
    for refs, name, wanted, other in zip(polarised, names, ("VV", "VH"), ("VH", "VV"), strict=True):
        base = os.path.basename(name)
        if not refs:
            raise InputRasterError(f"The SAR file {base} has no backscatter band; check the input.")
        named = [ref for ref in refs if polarisation_of(ref.label) == wanted]
        if not named and all(polarisation_of(ref.label) == other for ref in refs):
            raise InputRasterError(
                f"The SAR inputs look swapped: {base} holds {other}, not {wanted}; give VV as the SAR "
                "input and "
                "VH as the second SAR file (SAR_VH)."
            )
        picks.append(named[0] if named else refs[0])
        # several unnamed bands: the first is a guess, not what the parameter says
        by_name = by_name and bool(named or len(refs) == 1)
    return picks[0], picks[1], by_name
