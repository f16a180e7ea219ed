"""Set up from nothing through ``qgis_process``: a ZIP install in a new profile, Install dependencies,
Download pretrained weights from a local server, then Remove Clouds on a crop of a real sample.

The profile sees no ``.venv`` (``GLFCR_NO_VENV=1``) and QGIS's own Python has no torch, so everything
Remove Clouds imports comes from what ``glfcr:installdependencies`` put in the profile. pip installs the
torch version ``install.sh`` uses (a CPU build this machine keeps as a local wheel); unpacking it is
the slow part (1-3 minutes on two shared cores).
"""

from __future__ import annotations

import configparser
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from local_http import Route, local_server
from qgis_helpers import REPO_ROOT, enable_plugin_in_profile, run_qgis_process
from rasterio.windows import Window

from glfcr_qgis.dependencies import MISSING_TORCH_MESSAGE

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from build_zip import build_zip  # noqa: E402

pytestmark = pytest.mark.slow  # pip unpacks torch: minutes on two shared cores
SAMPLE = "ROIs2017_winter_112_p797.tif"
TAG = f"py{sys.version_info.major}{sys.version_info.minor}"


def crop(source: Path, destination: Path, size: int = 64, offset: int = 96) -> Path:
    """A ``size`` px window of a real raster, georeferenced as in the source."""
    with rasterio.open(source) as src:
        window = Window(offset, offset, size, size)
        profile = src.profile | {"width": size, "height": size, "transform": src.window_transform(window)}
        with rasterio.open(destination, "w", **profile) as out:
            out.write(src.read(window=window))
    return destination


@pytest.fixture(scope="module")
def fresh_profile(tmp_path_factory, shared_dir: Path) -> dict[str, Any]:
    """A ZIP-installed plugin in a new profile: the run before the install, and the install's own run."""
    root = tmp_path_factory.mktemp("setup")
    plugins = root / "plugins"
    with zipfile.ZipFile(build_zip(root / "dist")) as archive:
        archive.extractall(plugins)
    config = root / "config"
    enable_plugin_in_profile(config)
    env = {
        "GLFCR_NO_VENV": "1",
        "GLFCR_PYTHONPATH": None,
        "GLFCR_WEIGHTS": None,
        "PYTHONPATH": None,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    samples = shared_dir / "data" / "sen12mscr_samples"
    cloudy = crop(samples / "s2_cloudy" / SAMPLE, root / "cloudy.tif")
    sar = crop(samples / "s1" / SAMPLE, root / "sar.tif")

    def run(alg: str, params: dict[str, Any]) -> dict[str, Any]:
        return run_qgis_process(
            alg, params, extra_env=env, timeout=900, plugin_dir=plugins, config_dir=config
        )

    # the checkpoint is named: without a default, qgis_process asks for it before anything else
    checkpoint = shared_dir / "reference" / "glfcr_random_ckpt.pth"
    before = run(
        "glfcr:removeclouds",
        {"CLOUDY": cloudy, "SAR": sar, "WEIGHTS": checkpoint, "OUTPUT": root / "before.tif"},
    )
    install = run("glfcr:installdependencies", {"GPU_PACKAGES": 1})
    return {
        "root": root,
        "config": config,
        "run": run,
        "cloudy": cloudy,
        "sar": sar,
        "before": before,
        "install": install,
        "profile": config / "profiles" / "default",
    }


def test_torch_is_missing_before_the_install(fresh_profile: dict[str, Any]) -> None:
    before = fresh_profile["before"]
    assert before["returncode"] != 0
    assert MISSING_TORCH_MESSAGE in before["stdout"] + before["stderr"]
    assert not (fresh_profile["root"] / "before.tif").exists()


def test_install_dependencies_fills_the_profile_folder(fresh_profile: dict[str, Any]) -> None:
    install = fresh_profile["install"]
    assert install["returncode"] == 0, install["stderr"][-3000:] + install["stdout"][-3000:]
    folder = fresh_profile["profile"] / "python" / "glfcr_dependencies" / TAG
    results = install["results"]
    assert Path(results["FOLDER"]) == folder
    assert "torch 2.13.0" in results["INSTALLED"]
    assert results["DOWNLOAD_BYTES"] > 50 * 2**20
    assert results["RESTART_NEEDED"] is False
    assert (folder / "torch" / "__init__.py").is_file()
    assert not list(folder.glob("numpy*"))  # QGIS's numpy is the one used; pip's copy is not kept
    assert sorted(p.name for p in folder.parent.iterdir()) == ["install.log", TAG]
    assert "Successfully installed" in Path(results["LOG_FILE"]).read_text()


def test_download_weights_then_remove_clouds_with_them(
    fresh_profile: dict[str, Any], shared_dir: Path
) -> None:
    if fresh_profile["install"]["returncode"] != 0:
        pytest.skip("the install failed (reported by the test above)")
    run = fresh_profile["run"]
    checkpoint = (shared_dir / "reference" / "glfcr_random_ckpt.pth").read_bytes()
    with local_server() as server:
        server.routes["/CR_net.pth"] = Route(checkpoint, cut_after=3_000_000)
        download = run("glfcr:downloadweights", {"URL": server.url("/CR_net.pth")})
        ranges = [seen.headers.get("range") for seen in server.requests]
    assert download["returncode"] == 0, download["stderr"][-3000:] + download["stdout"][-3000:]
    assert ranges == [None, "bytes=3000000-"]
    weights = fresh_profile["profile"] / "glfcr_weights" / "CR_net.pth"
    assert Path(download["results"]["OUTPUT"]) == weights and weights.read_bytes() == checkpoint
    settings = configparser.ConfigParser(interpolation=None)
    settings.read(fresh_profile["profile"] / "QGIS" / "QGIS3.ini")
    # the download became the default checkpoint (the provider setting, as the options page stores it)
    assert settings["Processing"]["Configuration\\GLFCR_CHECKPOINT"] == str(weights)

    output = fresh_profile["root"] / "cloud_free.tif"
    # no WEIGHTS given: the downloaded checkpoint is the default
    result = run(
        "glfcr:removeclouds",
        {
            "CLOUDY": fresh_profile["cloudy"],
            "SAR": fresh_profile["sar"],
            "TILE_SIZE": 64,
            "OVERLAP": 0,
            "OUTPUT": output,
        },
    )
    assert result["returncode"] == 0, result["stderr"][-3000:] + result["stdout"][-3000:]
    with rasterio.open(fresh_profile["cloudy"]) as src, rasterio.open(output) as out:
        assert (out.crs, out.transform, out.shape, out.count) == (src.crs, src.transform, src.shape, 13)
        assert out.tags()["checkpoint_sha256"] == download["results"]["SHA256"]
        assert np.any(out.read() > 0)
