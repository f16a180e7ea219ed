"""What Install dependencies will install and how much it downloads, before anything is downloaded.

pip itself resolves the plan (``pip install --dry-run --report``, pip 22.2 or later) against its own
configured index, so the packages and URLs are exactly those the install will fetch; their sizes come
from the files (local ones) or the index's answer to a HEAD request (remote ones).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InstallError
from .pip_runner import pip_failure_sentence, run_pip
from .requirements import constraints_for, requirements_for, supported_cuda_majors

GB = 1024**3
MB = 1024**2
# pip's --report appeared in pip 22.2
REPORT_PIP = (22, 2)


@dataclass(frozen=True)
class PlannedPackage:
    """One distribution pip would download."""

    name: str
    version: str
    url: str
    size: int | None


@dataclass(frozen=True)
class InstallPlan:
    """What an install asks pip for and what pip resolved it to."""

    python: str
    folder: Path
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    cuda_major: int | None
    packages: tuple[PlannedPackage, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def download_bytes(self) -> int | None:
        """Total download size, or None when pip did not resolve the plan or a size is unknown."""
        sizes = [package.size for package in self.packages]
        if not sizes or any(size is None for size in sizes):
            return None
        return sum(size for size in sizes if size is not None)

    def describe(self) -> str:
        """The plan as lines of text for the log and the dialog."""
        lines = [f"Into: {self.folder}", f"With: {self.python}", "Requested: " + ", ".join(self.requirements)]
        if self.constraints:
            lines.append("Kept as QGIS has it: " + ", ".join(self.constraints))
        for package in self.packages:
            lines.append(f"  {package.name} {package.version}  {format_size(package.size)}")
        total = self.download_bytes
        lines.append(f"Download: {format_size(total)}" if total is not None else "Download: size not known")
        lines += list(self.notes)
        return "\n".join(lines)


def format_size(size: int | None) -> str:
    """``1.2 GB``, ``35 MB``, ``12 kB``, or ``size unknown``."""
    if size is None:
        return "size unknown"
    if size >= GB:
        return f"{size / GB:.1f} GB"
    if size >= MB:
        return f"{size / MB:.0f} MB"
    return f"{max(size, 1) / 1024:.0f} kB"


def effective_cuda_major(driver_major: int | None) -> int | None:
    """The newest listed CUDA build the driver runs (a driver for CUDA 14 still runs CUDA 13 builds)."""
    if driver_major is None:
        return None
    usable = [major for major in supported_cuda_majors() if major <= driver_major]
    return max(usable) if usable else None


def pip_version_tuple(version: str) -> tuple[int, ...]:
    """``(23, 0, 1)`` for ``"23.0.1"``; non-numeric parts end the tuple."""
    parts = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def base_plan(python: str, folder: Path, numpy_version: str | None, driver_major: int | None) -> InstallPlan:
    """The requested packages without asking pip (tested versions, CuPy for the driver's CUDA)."""
    cuda = effective_cuda_major(driver_major)
    notes = []
    if driver_major is None:
        notes.append(
            "No NVIDIA driver found: CuPy is not installed; GLF-CR runs on the CPU (or a GPU through torch "
            "alone)."
        )
    elif cuda is None:
        notes.append(
            f"The NVIDIA driver supports CUDA {driver_major}, for which no CuPy build is listed: CuPy is not "
            "installed."
        )
    return InstallPlan(
        python=python,
        folder=folder,
        requirements=tuple(requirements_for(cuda)),
        constraints=tuple(constraints_for(numpy_version)),
        cuda_major=driver_major,
        notes=tuple(notes),
    )


def resolve_plan(
    plan: InstallPlan,
    pip_version: str,
    *,
    on_line: Callable[[str], None] | None = None,
    is_canceled: Callable[[], bool] | None = None,
    url_size: Callable[[str], int | None] | None = None,
) -> InstallPlan:
    """Ask pip what it would download for ``plan`` (nothing is installed) and how big it is.

    Raises:
        InstallError: pip could not resolve the plan (no network, no matching release); the sentence says
            which.
    """
    if pip_version_tuple(pip_version) < REPORT_PIP:
        note = f"pip {pip_version} cannot tell the download size before installing (pip 22.2 or later can)."
        return _with(plan, notes=plan.notes + (note,))
    with tempfile.TemporaryDirectory(prefix="glfcr-plan-") as scratch:
        report_path = Path(scratch) / "report.json"
        constraints = write_constraints(Path(scratch), plan.constraints)
        run = run_pip(
            plan.python,
            [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--progress-bar",
                "off",
                "--report",
                str(report_path),
                "--target",
                str(Path(scratch) / "target"),
                *constraint_arguments(constraints),
                *plan.requirements,
            ],
            on_line=on_line,
            is_canceled=is_canceled,
        )
        if run.returncode != 0 or not report_path.is_file():
            raise InstallError(pip_failure_sentence(run, plan.folder, "size check"), run.log)
        report = json.loads(report_path.read_text(encoding="utf-8"))
    items = report.get("install", [])
    measure = url_size or remote_size
    with ThreadPoolExecutor(max_workers=8) as pool:
        sizes = list(pool.map(lambda item: measure(item["download_info"]["url"]), items))
    packages = tuple(
        PlannedPackage(
            item["metadata"]["name"], item["metadata"]["version"], item["download_info"]["url"], size
        )
        for item, size in zip(items, sizes, strict=True)
    )
    return _with(plan, packages=packages, notes=plan.notes + tuple(_size_notes(plan, packages)))


def _with(plan: InstallPlan, **changes: object) -> InstallPlan:
    fields = {name: getattr(plan, name) for name in plan.__dataclass_fields__}
    fields.update(changes)
    return InstallPlan(**fields)  # type: ignore[arg-type]


def _size_notes(plan: InstallPlan, packages: tuple[PlannedPackage, ...]) -> list[str]:
    cuda_parts = [p for p in packages if p.name.lower().startswith("nvidia-")]
    torch = next((p for p in packages if p.name.lower() == "torch"), None)
    if torch is None or "+cpu" in torch.version or not cuda_parts:
        return []
    size = sum(p.size or 0 for p in cuda_parts)
    note = (
        f"The torch build pip chose carries CUDA: {len(cuda_parts)} NVIDIA packages, {format_size(size)} "
        "of the download."
    )
    if plan.cuda_major is None:
        note += (
            " This machine has no NVIDIA driver, so a CPU-only torch build does the same work: point pip's "
            "own configuration (pip.conf's index-url or find-links, or PIP_INDEX_URL) at one to download far "
            "less."
        )
    return [note]


def write_constraints(folder: Path, constraints: tuple[str, ...]) -> Path | None:
    """Write the constraints file pip reads (None when there is nothing to pin)."""
    if not constraints:
        return None
    path = folder / "constraints.txt"
    path.write_text("\n".join(constraints) + "\n", encoding="utf-8")
    return path


def constraint_arguments(path: Path | None) -> list[str]:
    """``["--constraint", path]`` or nothing."""
    return ["--constraint", str(path)] if path is not None else []


def remote_size(url: str, timeout: float = 20) -> int | None:
    """Size of the file at ``url``: a local file's size, or the Content-Length a HEAD request answers."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        path = urllib.request.url2pathname(urllib.parse.unquote(parsed.path))
        if sys.platform == "win32" and parsed.netloc:
            path = f"//{parsed.netloc}{path}"
        try:
            return os.path.getsize(path)
        except OSError:
            return None
    if parsed.scheme not in ("http", "https"):
        return None
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (pip's own URL)
            length = response.headers.get("Content-Length")
            return int(length) if length and length.isdigit() else None
    except (OSError, ValueError):
        return None
