"""Evaluation reports: run metadata, metric formatting, quicklooks and a self-contained HTML page.

The HTML page carries its CSS inline and its quicklooks as base64 PNG (encoded here with zlib, no
imaging library), so it can be mailed or archived as one file. The files are written by
``report_files``.
"""

from __future__ import annotations

import base64
import html
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ...version import plugin_version
from ..io.normalization import NATURAL_COLOUR_BANDS
from .metrics import METRIC_LABELS, METRIC_NAMES

SOFTWARE = "glfcr_qgis"
STRETCH_PERCENTILES = (2.0, 98.0)
# an inferno-like ramp (dark = small error, bright = large), interpolated linearly
_ERROR_RAMP = np.array(
    [(0, 0, 4), (87, 16, 110), (188, 55, 84), (249, 142, 9), (252, 255, 164)],
    dtype=np.float64,
)
_METRIC_DECIMALS = {"psnr": 4, "ssim": 4, "ssim_centered": 4, "mae": 4, "rmse": 4, "sam": 3}


def run_metadata() -> dict[str, str]:
    """Software name, version and a UTC timestamp, for the head of every report."""
    return {
        "software": SOFTWARE,
        "version": plugin_version(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def format_metric(name: str, value: float | None) -> str:
    """Format a metric value for display ("n/a" where undefined)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{_METRIC_DECIMALS.get(name, 4)}f}"


# ---------------------------------------------------------------------------------------------------
# Pictures


def encode_png(image: np.ndarray) -> bytes:
    """Encode an 8-bit image as PNG.

    Args:
        image: (H, W) grey or (H, W, 3) RGB, uint8.

    """
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected a uint8 (H, W) or (H, W, 3) image, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    colour_type = 0 if image.ndim == 2 else 2
    rows = np.ascontiguousarray(image).reshape(height, -1)
    # every scanline starts with filter type 0 (none)
    raw = np.hstack([np.zeros((height, 1), dtype=np.uint8), rows]).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def png_data_uri(image: np.ndarray) -> str:
    """Encode ``image`` as a PNG ``data:`` URI, for an ``<img src>``."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


def stretch_limits(
    image: np.ndarray,
    bands: Sequence[int] = NATURAL_COLOUR_BANDS,
    percentiles: tuple[float, float] = STRETCH_PERCENTILES,
) -> np.ndarray:
    """Per-band display limits: the given percentiles of the finite values.

    Args:
        image: (C, H, W) reflectance.
        bands: 0-based bands to stretch (default B4, B3, B2).
        percentiles: low and high percentile.

    Returns:
        (len(bands), 2) low and high limits.

    """
    limits = np.zeros((len(bands), 2))
    for i, band in enumerate(bands):
        values = image[band][np.isfinite(image[band])]
        if values.size:
            limits[i] = np.percentile(values, percentiles)
        if limits[i, 1] <= limits[i, 0]:
            limits[i, 1] = limits[i, 0] + 1e-6
    return limits


def natural_colour(image: np.ndarray, limits: np.ndarray | None = None) -> np.ndarray:
    """Natural-colour quicklook (B4, B3, B2) of a 13-band reflectance image.

    Args:
        image: (13, H, W) reflectance.
        limits: (3, 2) stretch per channel; None = the 2-98 % stretch of this image.

    Returns:
        (H, W, 3) uint8 RGB; NaN shown black.

    """
    limits = stretch_limits(image) if limits is None else limits
    rgb = np.stack([image[band] for band in NATURAL_COLOUR_BANDS], axis=-1).astype(np.float64)
    scaled = (rgb - limits[:, 0]) / (limits[:, 1] - limits[:, 0])
    return _to_uint8(scaled)


def error_colour(error: np.ndarray, vmax: float) -> np.ndarray:
    """Colour an error map (H, W) from 0 (dark) to ``vmax`` (bright yellow); NaN shown black."""
    position = np.clip(np.nan_to_num(error / max(vmax, 1e-12), nan=0.0), 0.0, 1.0) * (len(_ERROR_RAMP) - 1)
    lower = np.minimum(np.floor(position).astype(int), len(_ERROR_RAMP) - 2)
    weight = (position - lower)[..., None]
    rgb = _ERROR_RAMP[lower] * (1 - weight) + _ERROR_RAMP[lower + 1] * weight
    rgb[~np.isfinite(error)] = 0.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def comparison_panels(
    prediction: np.ndarray, reference: np.ndarray, cloudy: np.ndarray | None = None
) -> list[tuple[str, np.ndarray]]:
    """Quicklook panels cloudy | prediction | reference | absolute error of one image.

    Prediction and reference share the reference's 2-98 % stretch, so they compare by eye; the cloudy
    image has its own (clouds would saturate the reference's).

    Args:
        prediction: (13, H, W) reflectance.
        reference: (13, H, W) reflectance.
        cloudy: optional (13, H, W) reflectance.

    Returns:
        (label, (H, W, 3) uint8) pairs.

    """
    limits = stretch_limits(reference)
    error = np.abs(prediction.astype(np.float64) - reference).mean(axis=0)
    finite = error[np.isfinite(error)]
    vmax = float(np.percentile(finite, STRETCH_PERCENTILES[1])) if finite.size else 1.0
    panels = [] if cloudy is None else [("Cloudy (own stretch)", natural_colour(cloudy))]
    panels += [
        ("Prediction", natural_colour(prediction, limits)),
        ("Reference", natural_colour(reference, limits)),
        (f"|error|, mean of 13 bands, 0 to {vmax:.3f}", error_colour(error, vmax)),
    ]
    return panels


def _to_uint8(unit: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.nan_to_num(unit, nan=0.0) * 255.0), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto;
       max-width: 1200px; padding: 0 16px; color: #1d2733; background: #fff; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #d5dbe1; padding-bottom: 4px; }
p.subtitle { color: #5b6875; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92em; }
th, td { border: 1px solid #d5dbe1; padding: 4px 10px; }
th { background: #eef2f6; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.settings td:first-child { color: #5b6875; }
tr.worst td { background: #fff4f2; }
figure { margin: 12px 0 20px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
.panels { display: flex; flex-wrap: wrap; gap: 10px; }
.panel { text-align: center; font-size: 0.82em; color: #5b6875; }
.panel img { display: block; width: 256px; height: auto; image-rendering: pixelated;
             border: 1px solid #c7ced6; }
.scroll { max-height: 520px; overflow-y: auto; display: inline-block; }
.note { color: #5b6875; font-size: 0.9em; }
"""


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric_from: int = 1,
    row_classes: Sequence[str] = (),
) -> str:
    """Render an HTML table; cells from column ``numeric_from`` on are right-aligned. Cells are escaped."""
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in header)
    body = []
    for index, row in enumerate(rows):
        cells = "".join(
            f'<td class="num">{html.escape(cell)}</td>'
            if column >= numeric_from
            else f"<td>{html.escape(cell)}</td>"
            for column, cell in enumerate(row)
        )
        css = row_classes[index] if index < len(row_classes) and row_classes[index] else ""
        body.append(f'<tr class="{css}">{cells}</tr>' if css else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def html_settings(items: Mapping[str, Any]) -> str:
    """Render a two-column table of settings (name, value); values are escaped."""
    rows = "".join(
        f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(_setting_text(value))}</td></tr>"
        for key, value in items.items()
    )
    return f'<table class="settings"><tbody>{rows}</tbody></table>'


def _setting_text(value: Any) -> str:
    return "(none)" if value is None or value == "" else str(value)


def html_figure(caption: str, panels: Sequence[tuple[str, np.ndarray]]) -> str:
    """Render a captioned row of quicklook panels, each embedded as a base64 PNG."""
    cells = "".join(
        f'<div class="panel"><img src="{png_data_uri(image)}" alt="{html.escape(label)}">'
        f"{html.escape(label)}</div>"
        for label, image in panels
    )
    return (
        f'<figure><figcaption>{html.escape(caption)}</figcaption><div class="panels">{cells}</div></figure>'
    )


def html_page(title: str, subtitle: str, sections: Sequence[tuple[str, str]]) -> str:
    """Render a complete HTML document: a title, a subtitle and (heading, inner HTML) sections.

    Headings, title and subtitle are escaped; section bodies are inserted as given.
    """
    body = "".join(f"<h2>{html.escape(heading)}</h2>{content}" for heading, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f'<h1>{html.escape(title)}</h1><p class="subtitle">{html.escape(subtitle)}</p>{body}</body></html>\n'
    )


def metric_header() -> list[str]:
    """Column titles of the metrics, in ``METRIC_NAMES`` order."""
    return [METRIC_LABELS[name] for name in METRIC_NAMES]


def metric_cells(values: Mapping[str, float]) -> list[str]:
    """Format metric values, in ``METRIC_NAMES`` order."""
    return [format_metric(name, values.get(name)) for name in METRIC_NAMES]
