"""The install plan and pip runs for real, with this machine's Python and pip: sizes, failures, cancel.

Each failure must come back as one sentence with pip's log, and leave the previous dependency folder
exactly as it was.
"""

from __future__ import annotations

import os
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy
import pytest

from glfcr_qgis.core.errors import InstallError, ProcessingCanceled
from glfcr_qgis.core.setup.folders import LOG_NAME, dependency_folder
from glfcr_qgis.core.setup.installer import check_disk_space, install_dependencies
from glfcr_qgis.core.setup.interpreter import qgis_python
from glfcr_qgis.core.setup.plan import InstallPlan, PlannedPackage, base_plan, resolve_plan


@pytest.fixture(scope="module")
def probe():
    return qgis_python()


@pytest.fixture
def previous(tmp_path: Path, probe) -> Path:
    """A profile whose dependency folder already holds an earlier install (a marker file stands for it)."""
    folder = dependency_folder(tmp_path / "profile", probe.version)
    folder.mkdir(parents=True)
    (folder / "earlier_install.txt").write_text("usable")
    return folder


def assert_untouched(folder: Path) -> None:
    assert (folder / "earlier_install.txt").read_text() == "usable"
    assert sorted(p.name for p in folder.parent.iterdir()) == [LOG_NAME, folder.name]


def plan_for(probe, folder: Path, *requirements: str) -> InstallPlan:
    plan = base_plan(probe.path, folder, numpy.__version__, None)
    return InstallPlan(plan.python, folder, requirements, plan.constraints, None)


@pytest.fixture
def unreachable_index(monkeypatch) -> Iterator[None]:
    """pip sees only an index on a closed local port: its own configuration files are ignored."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")  # with no retry at all pip hides the connection error
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    for variable in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(variable, raising=False)
    yield


@pytest.mark.slow
def test_the_plan_names_the_packages_and_their_download_size(probe, tmp_path: Path) -> None:
    plan = base_plan(probe.path, tmp_path / "py", numpy.__version__, None)
    assert plan.requirements == ("torch==2.13.0",) and plan.constraints == (f"numpy=={numpy.__version__}",)
    lines: list[str] = []
    resolved = resolve_plan(plan, probe.pip_version, on_line=lines.append)
    torch = next(package for package in resolved.packages if package.name == "torch")
    assert torch.version.startswith("2.13.0")
    assert not any(package.name == "numpy" for package in resolved.packages)
    parsed = urllib.parse.urlparse(torch.url)
    if parsed.scheme == "file":  # a wheel pip takes from this disk: its size is the file's
        assert torch.size == os.path.getsize(urllib.request.url2pathname(urllib.parse.unquote(parsed.path)))
    assert resolved.download_bytes is not None and resolved.download_bytes >= torch.size > 50 * 2**20
    assert "Download: " in resolved.describe() and lines
    assert not (tmp_path / "py").exists()  # a dry run installs nothing


def test_a_release_pip_cannot_find_is_one_sentence(probe, previous: Path) -> None:
    with pytest.raises(InstallError) as caught:
        install_dependencies(plan_for(probe, previous, "glfcr-no-such-package==1.0"), probe.pip_version)
    message = str(caught.value)
    assert message.startswith(
        "pip found no glfcr-no-such-package==1.0 for this Python in its configured index"
    )
    assert "No matching distribution" in caught.value.log
    assert_untouched(previous)
    assert "glfcr-no-such-package==1.0" in (previous.parent / LOG_NAME).read_text()


def test_qgis_numpy_is_never_replaced(probe, previous: Path) -> None:
    # asking for another numpy runs into the pin on QGIS's numpy: pip refuses instead of replacing it
    with pytest.raises(InstallError) as caught:
        install_dependencies(plan_for(probe, previous, "numpy==1.26.4"), probe.pip_version)
    assert str(caught.value).startswith("pip cannot install numpy==1.26.4: the versions asked for conflict")
    assert f"numpy=={numpy.__version__}" in caught.value.log
    assert_untouched(previous)


def test_no_network_is_one_sentence_and_changes_nothing(probe, previous: Path, unreachable_index) -> None:
    with pytest.raises(InstallError) as caught:
        install_dependencies(plan_for(probe, previous, "glfcr-no-such-package==1.0"), probe.pip_version)
    assert str(caught.value).startswith("pip could not reach its package index")
    assert "127.0.0.1" in caught.value.log
    assert_untouched(previous)


def test_no_network_during_the_size_check_is_one_sentence(probe, tmp_path: Path, unreachable_index) -> None:
    with pytest.raises(InstallError, match="^pip could not reach its package index"):
        resolve_plan(plan_for(probe, tmp_path / "py", "glfcr-no-such-package==1.0"), probe.pip_version)


def test_cancel_stops_pip_and_changes_nothing(probe, previous: Path) -> None:
    lines: list[str] = []
    with pytest.raises(ProcessingCanceled):
        install_dependencies(
            plan_for(probe, previous, "torch==2.13.0"),
            probe.pip_version,
            on_line=lines.append,
            is_canceled=lambda: len(lines) > 1,
        )
    assert_untouched(previous)


def test_too_little_disk_is_refused_before_pip_starts(probe, tmp_path: Path) -> None:
    plan = InstallPlan(
        probe.path,
        tmp_path / "py",
        ("torch==2.13.0",),
        (),
        None,
        (PlannedPackage("torch", "2.13.0", "file:///w/torch.whl", 3 * 2**30),),
    )
    with pytest.raises(InstallError) as caught:
        check_disk_space(plan, free_bytes=2 * 2**30)
    assert str(caught.value).startswith("Not enough disk space for the dependencies")
    check_disk_space(plan, free_bytes=10 * 2**30)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MB tmpfs (where this machine lets the tests mount one)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here: " + done.stderr.decode(errors="replace").strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_during_the_install_is_one_sentence_and_changes_nothing(probe, small_disk: Path) -> None:
    folder = dependency_folder(small_disk / "profile", probe.version)
    folder.mkdir(parents=True)
    (folder / "earlier_install.txt").write_text("usable")
    # no sizes known: pip itself runs into the full disk unpacking the torch wheel
    with pytest.raises(InstallError) as caught:
        install_dependencies(plan_for(probe, folder, "torch==2.13.0"), probe.pip_version)
    assert str(caught.value).startswith("pip ran out of disk space while installing into")
    assert (folder / "earlier_install.txt").read_text() == "usable"
    assert sorted(p.name for p in folder.parent.iterdir()) == [LOG_NAME, folder.name]
