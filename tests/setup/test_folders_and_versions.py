"""The dependency folder's all-or-nothing replacement, the tested versions file, the NVIDIA driver checks."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from glfcr_qgis import dependencies
from glfcr_qgis.core.setup import nvidia
from glfcr_qgis.core.setup.folders import (
    activate_pending,
    pending_folder,
    remove_distribution,
    remove_leftovers,
    staging_folder,
    swap_into_place,
)
from glfcr_qgis.core.setup.requirements import TESTED_VERSIONS_PATH, requirements_for
from glfcr_qgis.core.setup.requirements import tested_requirements as read_tested_versions

REPO = Path(__file__).resolve().parents[2]


def make_folder(path: Path, marker: str) -> Path:
    path.mkdir(parents=True)
    (path / "marker.txt").write_text(marker)
    return path


def test_a_new_install_replaces_the_old_folder(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "py311", "old")
    new = staging_folder(folder)
    (new / "marker.txt").write_text("new")
    assert swap_into_place(new, folder)
    assert (folder / "marker.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["py311"]


def test_a_folder_in_use_waits_as_pending_until_the_next_load(tmp_path: Path, monkeypatch) -> None:
    folder = make_folder(tmp_path / "py311", "old")
    new = make_folder(tmp_path / ".py311-new-x", "new")
    real_replace = os.replace

    def locked(source, target):  # Windows refuses to move a folder whose DLLs are loaded
        if Path(source) == folder:
            raise PermissionError(13, "The process cannot access the file because it is being used")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", locked)
    assert not swap_into_place(new, folder)
    assert (folder / "marker.txt").read_text() == "old"
    assert (pending_folder(folder) / "marker.txt").read_text() == "new"
    monkeypatch.setattr(os, "replace", real_replace)
    assert activate_pending(folder)  # what the plugin does when it next loads
    assert (folder / "marker.txt").read_text() == "new" and not pending_folder(folder).exists()


def test_interrupted_runs_leave_nothing_behind(tmp_path: Path) -> None:
    make_folder(tmp_path / "py311", "live")
    for name in (".py311-new-abc", ".py311-old-def", ".py311-tmp-ghi"):
        make_folder(tmp_path / name, "junk")
    (tmp_path / "install.log").write_text("log")
    remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["install.log", "py311"]


def test_a_distribution_is_removed_file_by_file(tmp_path: Path) -> None:
    # what pip --target writes for a small wheel: package files, a script, the dist-info with its RECORD
    (tmp_path / "numpy" / "core").mkdir(parents=True)
    (tmp_path / "numpy" / "__init__.py").write_text("")
    (tmp_path / "numpy" / "core" / "_multiarray.so").write_bytes(b"\0")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "f2py").write_text("#!")
    (tmp_path / "bin" / "torchrun").write_text("#!")
    info = tmp_path / "numpy-1.24.2.dist-info"
    info.mkdir()
    (info / "RECORD").write_text(
        "numpy/__init__.py,,\nnumpy/core/_multiarray.so,,\n../../bin/outside,,\nbin/f2py,,\n"
        "numpy-1.24.2.dist-info/RECORD,,\n"
    )
    assert remove_distribution(tmp_path, "numpy")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["bin", "bin/torchrun"]
    assert not remove_distribution(tmp_path, "numpy")


def test_the_profile_folder_is_appended_after_qgis_own_entries(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", ["/usr/lib/python3/dist-packages"])
    profile = tmp_path / "profiles" / "default"
    folder = dependencies.add_profile_dependencies(profile)
    tag = f"py{sys.version_info.major}{sys.version_info.minor}"
    assert folder == profile / "python" / "glfcr_dependencies" / tag
    assert sys.path == ["/usr/lib/python3/dist-packages", str(folder)]  # appended even before an install
    dependencies.add_profile_dependencies(profile)
    assert sys.path.count(str(folder)) == 1


def test_a_package_installed_later_imports_without_restart(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "py311"
    monkeypatch.setattr(sys, "path", [*sys.path, str(folder)])
    assert not (tmp_path / "py311").exists()
    with pytest.raises(ImportError):
        __import__("glfcr_probe_module")
    folder.mkdir()
    (folder / "glfcr_probe_module.py").write_text("VALUE = 42\n")
    dependencies.refresh_after_install(folder)
    assert __import__("glfcr_probe_module").VALUE == 42
    sys.modules.pop("glfcr_probe_module")


def test_the_tested_versions_list_torch_always_and_cupy_per_cuda_version() -> None:
    names = {req.name: req.condition for req in read_tested_versions()}
    assert names["torch"] == "always"
    assert requirements_for(None) == ["torch==2.13.0"]
    assert [r.split("==")[0] for r in requirements_for(12)] == ["torch", "cupy-cuda12x"]
    assert [r.split("==")[0] for r in requirements_for(13)] == ["torch", "cupy-cuda13x"]


def test_install_sh_reads_the_same_file() -> None:
    script = (REPO / "install.sh").read_text()
    assert "tested_versions.txt" in script
    assert not re.search(r"torch==\d", script)  # no second place naming the version
    # the line install.sh uses to read the pins, run for real
    line = next(line for line in script.splitlines() if line.startswith("torch_pin="))
    completed = subprocess.run(
        ["bash", "-c", f"{line}; echo $torch_pin"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == requirements_for(None)[0]
    assert TESTED_VERSIONS_PATH.parent == REPO / "glfcr_qgis"


@pytest.mark.parametrize(
    ("smi", "kernel", "api", "expected"),
    [
        # read off an H200 (driver 580.159.04): nvidia-smi, /proc/driver/nvidia/version, cuDriverGetVersion
        (
            "| NVIDIA-SMI 580.159.04             Driver Version: 580.159.04     CUDA Version: 13.0     |",
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build  (nixbld@)",
            13000,
            13,
        ),
        ("| NVIDIA-SMI 550.54.14   Driver Version: 550.54.14   CUDA Version: 12.4 |", None, 12040, 12),
        ("| NVIDIA-SMI 580.65.06   Driver Version: 580.65.06   CUDA Version: 13.0 |", None, 13000, 13),
        (
            None,
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.104.05  Sat Aug 19 01:15:15 UTC 2023",
            None,
            12,
        ),
        (None, "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.82.07  Release Build", None, 13),
        (
            None,
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.223.02  Sat Oct  7 15:39:11 UTC 2023",
            None,
            None,
        ),
    ],
)
def test_the_cuda_version_is_read_from_each_source(smi, kernel, api, expected) -> None:
    if smi is not None:
        assert nvidia.cuda_major_from_smi(smi) == expected
    if kernel is not None:
        assert nvidia.cuda_major_from_kernel_module(kernel) == expected
    if api is not None:
        assert nvidia.cuda_major_from_driver_api(api) == expected


def test_a_machine_without_a_driver_gets_no_cupy() -> None:
    if Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi"):
        pytest.skip("this machine has an NVIDIA driver")
    assert nvidia.nvidia_cuda_major() is None
