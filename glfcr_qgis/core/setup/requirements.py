"""The versions the plugin is tested with, from ``glfcr_qgis/tested_versions.txt`` (the one place naming
them).

``install.sh`` reads the same file, so a checkout set up from the shell and a ZIP set up from inside QGIS
get the same torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TESTED_VERSIONS_PATH = Path(__file__).resolve().parents[2] / "tested_versions.txt"
ALWAYS = "always"
# installed by install.sh only (optional features such as s2cloudless, test tools); Install dependencies skips
INSTALL_SH_ONLY: tuple[str, ...] = ("optional", "optional-no-deps", "tests")
_CUDA_CONDITION = re.compile(r"cuda=(\d+)")


@dataclass(frozen=True)
class TestedRequirement:
    """One line of ``tested_versions.txt``: a pinned pip requirement and when it is installed."""

    __test__ = False  # not a pytest test class despite its name

    spec: str
    condition: str

    @property
    def name(self) -> str:
        """The distribution name, e.g. ``torch``."""
        return re.split(r"[<>=!~ ;\[]", self.spec, maxsplit=1)[0]

    def applies(self, cuda_major: int | None) -> bool:
        """Whether this requirement is installed on a machine whose NVIDIA driver supports ``cuda_major``."""
        if self.condition == ALWAYS:
            return True
        match = _CUDA_CONDITION.fullmatch(self.condition)
        return bool(match) and cuda_major is not None and int(match.group(1)) == cuda_major


def tested_requirements(path: Path = TESTED_VERSIONS_PATH) -> list[TestedRequirement]:
    """Parse the tested-versions file.

    Raises:
        ValueError: a line has no condition or an unknown one (a packaging mistake, not a user error).
    """
    requirements = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        known = parts[1:] and (parts[1] in (ALWAYS, *INSTALL_SH_ONLY) or _CUDA_CONDITION.fullmatch(parts[1]))
        if len(parts) != 2 or not known:
            raise ValueError(
                f"{path}:{number}: expected 'requirement always', 'requirement cuda=N' or 'requirement "
                f"{'|'.join(INSTALL_SH_ONLY)}', got {raw!r}"
            )
        requirements.append(TestedRequirement(parts[0], parts[1]))
    return requirements


def requirements_for(cuda_major: int | None, path: Path = TESTED_VERSIONS_PATH) -> list[str]:
    """The pip requirements where the NVIDIA driver supports CUDA ``cuda_major`` (None: no driver)."""
    return [requirement.spec for requirement in tested_requirements(path) if requirement.applies(cuda_major)]


def supported_cuda_majors(path: Path = TESTED_VERSIONS_PATH) -> list[int]:
    """The CUDA major versions for which a GPU package is listed (12 and 13 today)."""
    majors = {_CUDA_CONDITION.fullmatch(r.condition) for r in tested_requirements(path)}
    return sorted(int(match.group(1)) for match in majors if match)


def constraints_for(numpy_version: str | None) -> list[str]:
    """Pip constraints that keep QGIS's own packages: numpy pinned to the version QGIS already has."""
    return [f"numpy=={numpy_version}"] if numpy_version else []
