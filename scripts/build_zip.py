#!/usr/bin/env python3
"""Build the installable plugin ZIP (QGIS: Plugins > Install from ZIP): dist/glfcr_qgis-<version>.zip.

The archive holds one folder, ``glfcr_qgis/``, with the files that ``glfcr_qgis/pb_tool.cfg`` lists.
Usage: ``python3 scripts/build_zip.py [--output-dir DIR]``; prints the path of the ZIP.
"""

from __future__ import annotations

import argparse
import configparser
import sys
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = REPO_ROOT / "glfcr_qgis"
SKIPPED_PARTS = {"__pycache__", ".pytest_cache"}
SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def plugin_files(plugin_dir: Path = PLUGIN_DIR) -> list[Path]:
    """The plugin's files, relative to ``plugin_dir``, as listed in its ``pb_tool.cfg``.

    Raises:
        FileNotFoundError: a listed file or folder does not exist.
    """
    config = configparser.ConfigParser(inline_comment_prefixes=("#",))
    config.read(plugin_dir / "pb_tool.cfg", encoding="utf-8")
    section = config["files"]

    def listed(key: str) -> list[str]:
        return section.get(key, "").split()

    files = [Path(name) for key in ("python_files", "extras", "compiled_ui_files", "resource_files")
             for name in listed(key)]
    for folder in listed("extra_dirs"):
        if not (plugin_dir / folder).is_dir():
            raise FileNotFoundError(f"pb_tool.cfg lists the folder {folder!r}, which is not in {plugin_dir}")
        files += [
            path.relative_to(plugin_dir)
            for path in sorted((plugin_dir / folder).rglob("*"))
            if path.is_file()
            and not SKIPPED_PARTS.intersection(path.parts)
            and path.suffix not in SKIPPED_SUFFIXES
            and not path.name.startswith(".")
        ]
    for path in files:
        if not (plugin_dir / path).is_file():
            raise FileNotFoundError(f"pb_tool.cfg lists {path}, which is not in {plugin_dir}")
    return files


def build_zip(output_dir: Path = REPO_ROOT / "dist") -> Path:
    """Write ``glfcr_qgis-<version>.zip`` into ``output_dir`` and return its path."""
    sys.path.insert(0, str(REPO_ROOT))
    from glfcr_qgis.version import plugin_version

    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"glfcr_qgis-{plugin_version()}.zip"
    partial = target.with_suffix(".zip.part")
    extras = [REPO_ROOT / name for name in ("LICENSE", "README.md") if (REPO_ROOT / name).is_file()]
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in plugin_files():
            archive.write(PLUGIN_DIR / path, f"glfcr_qgis/{path.as_posix()}")
        for path in extras:
            archive.write(path, f"glfcr_qgis/{path.name}")
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=REPO_ROOT / "dist")
    print(build_zip(parser.parse_args().output_dir))


if __name__ == "__main__":
    main()
