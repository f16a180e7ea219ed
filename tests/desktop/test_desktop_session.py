"""The real QGIS desktop under Xvfb: repeated runs through the algorithm dialogs load named, styled layers.

Starts ``qgis`` (not the headless application) with a throwaway profile in which the plugin from this
checkout is enabled and the provider settings name the reference checkpoint, CPU, 64 px tiles; the
session script (desktop_session.py) does what an analyst does and writes what it saw to a JSON file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import rasterio
from qgis_helpers import SHARED_DIR, enable_plugin_in_profile, scratch_qgis_home
from rasterio.windows import Window

SAMPLE = "ROIs2017_winter_112_p797.tif"
SESSION_SCRIPT = Path(__file__).with_name("desktop_session.py")
CHECKPOINT = SHARED_DIR / "reference" / "glfcr_random_ckpt.pth"
# the session script leaves on its own after this long (a stuck run, an unexpected question)
GIVE_UP_SECONDS = 400

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("xvfb-run") is None or shutil.which("Xvfb") is None,
        reason="Xvfb is not installed (install.sh installs the Debian package xvfb)",
    ),
    pytest.mark.skipif(shutil.which("qgis") is None, reason="the QGIS desktop (qgis) is not installed"),
]


def crop(source: Path, destination: Path, size: int = 64) -> Path:
    """The centre ``size`` x ``size`` pixels of ``source``, georeferenced, as a new GeoTIFF."""
    with rasterio.open(source) as src:
        window = Window((src.width - size) // 2, (src.height - size) // 2, size, size)
        profile = {**src.profile, "width": size, "height": size, "transform": src.window_transform(window)}
        profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
        with rasterio.open(destination, "w", **profile) as dst:
            dst.write(src.read(window=window))
            dst.descriptions = src.descriptions
    return destination


def scratch_profile(root: Path) -> Path:
    """A profiles folder whose default profile enables the plugin and sets the provider's defaults."""
    enable_plugin_in_profile(root)
    ini = root / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.write_text(
        ini.read_text(encoding="utf-8")
        + "\n[Processing]\n"
        + f"Configuration\\GLFCR_CHECKPOINT={CHECKPOINT}\n"
        + "Configuration\\GLFCR_DEVICE=1\n"
        + "Configuration\\GLFCR_TILE_SIZE=64\n"
        + "Configuration\\GLFCR_OVERLAP=0\n",
        encoding="utf-8",
    )
    return root


# what the session did: the finished process, the result JSON it wrote, its output folder
Session = tuple[subprocess.CompletedProcess[str], dict, Path]


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    folder = tmp_path_factory.mktemp("desktop")
    samples = SHARED_DIR / "data" / "sen12mscr_samples"
    if not samples.is_dir():
        pytest.skip(f"shared test material not found at {samples}")
    out_dir = folder / "out"
    out_dir.mkdir()
    config = folder / "config.json"
    config.write_text(
        json.dumps(
            {
                "cloudy": str(crop(samples / "s2_cloudy" / SAMPLE, folder / "cloudy.tif")),
                "sar": str(crop(samples / "s1" / SAMPLE, folder / "sar.tif")),
                "out_dir": str(out_dir),
                "give_up_seconds": GIVE_UP_SECONDS,
            }
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "QGIS_PLUGINPATH": str(scratch_qgis_home() / "plugins"),
        "GLFCR_DESKTOP_CONFIG": str(config),
        "OMP_NUM_THREADS": "1",
        "HOME": str(folder),  # anything QGIS writes outside the profile stays in the test's folder
    }
    env.pop("QT_QPA_PLATFORM", None)  # a real X display (Xvfb), not the offscreen platform
    command = [
        "xvfb-run", "-a", "-s", "-screen 0 1280x800x24",
        "qgis", "--nologo", "--noversioncheck", "--profiles-path", str(scratch_profile(folder / "profiles")),
        "--code", str(SESSION_SCRIPT),
    ]  # fmt: skip
    # its own session, so that a timeout ends QGIS and Xvfb too, not only xvfb-run
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=GIVE_UP_SECONDS + 120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    result_file = out_dir / "result.json"
    assert result_file.exists(), f"the session wrote no result:\n{completed.stdout}\n{completed.stderr}"
    return completed, json.loads(result_file.read_text(encoding="utf-8")), out_dir


def test_qgis_quits_cleanly_without_errors(session: Session) -> None:
    completed, result, out_dir = session
    assert result["errors"] == []
    assert result["provider_loaded"]
    assert result["critical_messages"] == []
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert (out_dir / "desktop.png").stat().st_size > 10_000  # a real screenshot of the window


def test_every_run_of_both_passes_succeeds_and_loads_four_named_styled_layers(session: Session) -> None:
    _, result, out_dir = session
    assert len(result["passes"]) == 2
    for number, one_pass in enumerate(result["passes"], start=1):
        assert [run["ok"] for run in one_pass["runs"]] == [True] * 4, [run["log"] for run in one_pass["runs"]]
        layers = {Path(layer["source"]).name: layer for layer in one_pass["layers"]}
        assert sorted(layers) == sorted(
            f"pass{number}_{kind}_{run}.tif" for kind in ("cloud_free", "mask") for run in (1, 2)
        )
        # the second pass continues the numbering: (3), (4)
        first = "" if number == 1 else f" ({2 * number - 1})"
        second = f" ({2 * number})"
        expected_names = {
            f"pass{number}_cloud_free_1.tif": f"Cloudy scene cloud-free{first}",
            f"pass{number}_cloud_free_2.tif": f"Cloudy scene cloud-free{second}",
            f"pass{number}_mask_1.tif": f"Cloudy scene cloud mask{first}",
            f"pass{number}_mask_2.tif": f"Cloudy scene cloud mask{second}",
        }
        assert {name: layer["name"] for name, layer in layers.items()} == expected_names
        for name, layer in layers.items():
            if "cloud_free" in name:
                assert (layer["renderer"], layer["rgb_bands"]) == ("multibandcolor", [4, 3, 2])
            else:
                assert layer["renderer"] == "paletted"
                assert [label for _, label, _ in layer["classes"]] == ["clear", "cloud", "cloud shadow"]
            assert (out_dir / name).is_file()

