"""Finding QGIS's Python: Windows (OSGeo4W, standalone) and macOS layouts as data, Linux for real."""

from __future__ import annotations

import sys
from pathlib import PurePosixPath, PureWindowsPath

import pytest

from glfcr_qgis.core.errors import InstallError
from glfcr_qgis.core.setup.folders import dependency_folder
from glfcr_qgis.core.setup.interpreter import (
    PythonLayout,
    find_python,
    probe_python,
    python_candidates,
    qgis_python,
    running_layout,
)

MAC_PROFILE = "/Users/ana/Library/Application Support/QGIS/QGIS3/profiles/work"
# (layout as QGIS's Python reports it, the files that exist there, the interpreter to be found)
LAYOUTS = {
    "windows-osgeo4w": (
        PythonLayout(
            "win32",
            r"C:\OSGeo4W\bin\qgis-ltr-bin.exe",
            r"C:\OSGeo4W\apps\Python39",
            r"C:\OSGeo4W\apps\Python39",
            (3, 9),
        ),
        {r"C:\OSGeo4W\apps\Python39\python.exe", r"C:\OSGeo4W\bin\python3.exe"},
        r"C:\OSGeo4W\apps\Python39\python.exe",
    ),
    "windows-standalone": (
        PythonLayout(
            "win32",
            r"C:\Program Files\QGIS 3.22.16\bin\qgis-ltr-bin.exe",
            r"C:\Program Files\QGIS 3.22.16\apps\Python39",
            r"C:\Program Files\QGIS 3.22.16\apps\Python39",
            (3, 9),
        ),
        {r"C:\Program Files\QGIS 3.22.16\apps\Python39\python.exe"},
        r"C:\Program Files\QGIS 3.22.16\apps\Python39\python.exe",
    ),
    # a prefix QGIS did not set (sys.prefix left at the binary's folder): found through <root>\apps\Python3XY
    "windows-prefix-unset": (
        PythonLayout("win32", r"D:\QGIS\bin\qgis-bin.exe", r"D:\QGIS\bin", r"D:\QGIS\bin", (3, 12)),
        {r"D:\QGIS\apps\Python312\python.exe"},
        r"D:\QGIS\apps\Python312\python.exe",
    ),
    "macos-bundle-bin": (
        PythonLayout(
            "darwin",
            "/Applications/QGIS-LTR.app/Contents/MacOS/QGIS",
            "/Applications/QGIS-LTR.app/Contents/Frameworks",
            "/Applications/QGIS-LTR.app/Contents/Frameworks",
            (3, 9),
        ),
        {
            "/Applications/QGIS-LTR.app/Contents/MacOS/bin/python3.9",
            "/Applications/QGIS-LTR.app/Contents/MacOS/bin/python3",
        },
        "/Applications/QGIS-LTR.app/Contents/MacOS/bin/python3.9",
    ),
    "macos-framework": (
        PythonLayout(
            "darwin",
            "/Applications/QGIS.app/Contents/MacOS/QGIS",
            "/Applications/QGIS.app/Contents/Frameworks/Python.framework/Versions/3.11",
            "/Applications/QGIS.app/Contents/Frameworks/Python.framework/Versions/3.11",
            (3, 11),
        ),
        {"/Applications/QGIS.app/Contents/Frameworks/Python.framework/Versions/3.11/bin/python3.11"},
        "/Applications/QGIS.app/Contents/Frameworks/Python.framework/Versions/3.11/bin/python3.11",
    ),
    "linux-debian": (
        PythonLayout("linux", "/usr/bin/qgis", "/usr", "/usr", (3, 11)),
        {"/usr/bin/python3.11", "/usr/bin/python3", "/usr/bin/qgis"},
        "/usr/bin/python3.11",
    ),
    "linux-conda": (
        PythonLayout(
            "linux",
            "/home/a/miniforge3/envs/qgis/bin/python3.12",
            "/home/a/miniforge3/envs/qgis",
            "/home/a/miniforge3/envs/qgis",
            (3, 12),
        ),
        {"/home/a/miniforge3/envs/qgis/bin/python3.12"},
        "/home/a/miniforge3/envs/qgis/bin/python3.12",
    ),
}


@pytest.mark.parametrize("name", LAYOUTS)
def test_the_interpreter_is_found_in_each_layout(name: str) -> None:
    layout, files, expected = LAYOUTS[name]
    assert find_python(layout, files.__contains__) == expected


def test_the_qgis_binary_is_never_a_candidate() -> None:
    for layout, _, _ in LAYOUTS.values():
        if "qgis" in layout.executable.lower().rsplit("/", 1)[-1].rsplit("\\", 1)[-1]:
            assert layout.executable not in python_candidates(layout)


def test_a_path_shim_reported_as_executable_comes_last() -> None:
    # QGIS on Linux embeds Python: sys.executable is whatever "python3" PATH finds, here a pyenv shim
    layout = PythonLayout("linux", "/root/.pyenv/shims/python3", "/usr", "/usr", (3, 11))
    files = {"/root/.pyenv/shims/python3", "/usr/bin/python3.11"}
    assert find_python(layout, files.__contains__) == "/usr/bin/python3.11"
    assert python_candidates(layout)[-1] == "/root/.pyenv/shims/python3"


def test_nothing_found_when_no_candidate_exists() -> None:
    layout = LAYOUTS["windows-osgeo4w"][0]
    assert find_python(layout, lambda _path: False) is None


@pytest.mark.parametrize(
    ("profile", "version", "expected"),
    [
        (
            PureWindowsPath(r"C:\Users\ana\AppData\Roaming\QGIS\QGIS3\profiles\default"),
            (3, 9),
            PureWindowsPath(
                r"C:\Users\ana\AppData\Roaming\QGIS\QGIS3\profiles\default\python\glfcr_dependencies\py39"
            ),
        ),
        (
            PurePosixPath(MAC_PROFILE),
            (3, 11),
            PurePosixPath(MAC_PROFILE) / "python" / "glfcr_dependencies" / "py311",
        ),
        (
            PurePosixPath("/home/ana/.local/share/QGIS/QGIS3/profiles/default"),
            (3, 12),
            PurePosixPath(
                "/home/ana/.local/share/QGIS/QGIS3/profiles/default/python/glfcr_dependencies/py312"
            ),
        ),
    ],
)
def test_the_dependency_folder_is_per_profile_and_python(profile, version, expected) -> None:
    assert dependency_folder(profile, version) == expected


def test_this_machines_python_is_found_and_runs_pip() -> None:
    probe = qgis_python()
    assert probe.version == sys.version_info[:2]
    assert probe.pip_version
    assert probe.path in python_candidates(running_layout())


def test_another_python_version_is_refused() -> None:
    with pytest.raises(InstallError, match="not QGIS's Python 2.7"):
        probe_python(sys.executable, (2, 7))


def test_a_python_without_pip_is_one_sentence(tmp_path) -> None:
    # a real interpreter whose pip cannot be imported: -I (isolated) with an empty site and a stub-free path
    fake = tmp_path / "python3"
    fake.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    fake.chmod(0o755)
    with pytest.raises(InstallError) as caught:
        probe_python(str(fake), sys.version_info[:2])
    assert "has no pip" in str(caught.value) and str(caught.value).count(". ") == 0
