"""The plugin shell: entry point, provider, metadata, packaging, and what qgis_process sees."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from qgis.core import QgsApplication
from qgis_helpers import (
    REPO_ROOT,
    enable_plugin_in_profile,
    run_qgis_process_command,
)

sys.path.insert(0, str(REPO_ROOT / "scripts"))
from build_zip import build_zip, plugin_files  # noqa: E402

import glfcr_qgis  # noqa: E402
from glfcr_qgis.algorithms import ALGORITHMS  # noqa: E402
from glfcr_qgis.dependencies import MISSING_TORCH_MESSAGE  # noqa: E402
from glfcr_qgis.plugin import GlfcrPlugin  # noqa: E402
from glfcr_qgis.version import METADATA_PATH, plugin_version  # noqa: E402

PLUGIN_DIR = REPO_ROOT / "glfcr_qgis"
EXPECTED_IDS = sorted(f"glfcr:{cls().name()}" for cls in ALGORITHMS)
SAMPLE = "ROIs2017_winter_112_p797.tif"


def registry():
    return QgsApplication.processingRegistry()


def test_class_factory_returns_the_plugin(qgis_app):
    plugin = glfcr_qgis.classFactory(None)
    assert isinstance(plugin, GlfcrPlugin)


def test_provider_is_registered_with_every_algorithm(qgis_app):
    provider = registry().providerById("glfcr")
    assert provider is not None
    assert provider.name() == "GLF-CR cloud removal"
    assert not provider.icon().isNull()
    assert provider.versionInfo() == plugin_version()
    assert sorted(alg.id() for alg in provider.algorithms()) == EXPECTED_IDS


def test_unload_removes_the_provider_and_init_processing_restores_it(qgis_app):
    from processing.core.ProcessingConfig import ProcessingConfig

    plugin = qgis_app.glfcr_plugin
    assert "GLFCR_CHECKPOINT" in ProcessingConfig.settings
    plugin.unload()
    try:
        assert registry().providerById("glfcr") is None
        assert "GLFCR_CHECKPOINT" not in ProcessingConfig.settings
    finally:
        plugin.initGui()  # initGui only registers the provider: no iface needed
    assert registry().providerById("glfcr") is not None
    assert "GLFCR_CHECKPOINT" in ProcessingConfig.settings


@pytest.mark.parametrize("algorithm_class", ALGORITHMS, ids=lambda cls: cls.__name__)
def test_algorithms_follow_the_qgis_shape(qgis_app, algorithm_class):
    algorithm = algorithm_class()
    assert re.fullmatch(r"[a-z0-9]+", algorithm.name())
    groups = {"cloudremoval": "Cloud removal", "evaluation": "Evaluation", "setup": "Setup"}
    assert groups.get(algorithm.groupId()) == algorithm.group()
    # the two evaluation algorithms, and only they, in the Evaluation group
    assert (algorithm.groupId() == "evaluation") == (algorithm.name() in ("evaluate", "evaluatedataset"))
    assert algorithm.displayName() and algorithm.shortHelpString()
    assert type(algorithm.createInstance()) is algorithm_class
    algorithm.initAlgorithm({})
    for parameter in algorithm.parameterDefinitions():
        assert parameter.name() == parameter.name().upper()


def test_importing_the_plugin_does_not_import_torch():
    # a fresh interpreter: the test session itself may already hold torch
    code = (
        "import sys, glfcr_qgis, glfcr_qgis.plugin; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_core_never_imports_qgis():
    modules = sorted(
        f"glfcr_qgis.core.{path.stem}" for path in (PLUGIN_DIR / "core").glob("*.py") if path.stem != "__init__"
    )
    code = (
        f"import importlib, sys; [importlib.import_module(m) for m in {modules!r}]; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('qgis', 'PyQt5')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_metadata_is_complete_and_the_version_source():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(METADATA_PATH, encoding="utf-8")
    general = parser["general"]
    for key in (
        "name", "qgisMinimumVersion", "description", "about", "version", "author", "email", "tracker",
        "repository", "homepage", "hasProcessingProvider", "tags", "category", "icon", "changelog",
    ):
        assert general.get(key, "").strip(), f"metadata.txt lacks {key}"
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["hasProcessingProvider"] == "yes"
    assert general["version"] == plugin_version() == "0.1.0"
    assert (PLUGIN_DIR / general["icon"]).is_file()


def test_pb_tool_lists_every_module_of_the_plugin():
    listed = {path.as_posix() for path in plugin_files()}
    python_modules = {
        path.relative_to(PLUGIN_DIR).as_posix()
        for path in PLUGIN_DIR.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert python_modules <= listed


def test_pb_tool_lists_every_resource_the_plugin_reads():
    """Styles and other data files the code opens at run time travel in the ZIP too."""
    listed = {path.as_posix() for path in plugin_files()}
    resources = {
        path.relative_to(PLUGIN_DIR).as_posix()
        for path in PLUGIN_DIR.rglob("*")
        if path.suffix in {".qml", ".cu", ".svg", ".png", ".txt", ".json"} and "__pycache__" not in path.parts
    }
    assert resources <= listed


def test_qgis_process_lists_the_algorithms_of_this_checkout():
    completed = run_qgis_process_command(["--json", "list"], timeout=120)
    assert completed.returncode == 0, completed.stderr
    provider = json.loads(completed.stdout)["providers"]["glfcr"]
    assert provider["name"] == "GLF-CR cloud removal"
    assert sorted(provider["algorithms"]) == EXPECTED_IDS


@pytest.fixture(scope="module")
def zip_install(tmp_path_factory) -> Path:
    """The built ZIP unpacked as QGIS's "Install from ZIP" would; returns the plugin folder holding it."""
    archive = build_zip(tmp_path_factory.mktemp("dist"))
    plugins = tmp_path_factory.mktemp("plugins")
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(plugins)
    return plugins


def test_zip_has_one_top_folder_with_metadata_and_icon(zip_install):
    assert [path.name for path in zip_install.iterdir()] == ["glfcr_qgis"]
    plugin = zip_install / "glfcr_qgis"
    assert (plugin / "metadata.txt").is_file() and (plugin / "icon.svg").is_file()
    assert not list(plugin.rglob("__pycache__"))


def _blocked_torch_env(tmp_path: Path) -> dict[str, str | None]:
    """Environment where ``import torch`` fails even if the system Python had torch."""
    blocker = tmp_path / "block_torch"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class _BlockTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ModuleNotFoundError(f\"No module named '{name}'\", name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _BlockTorch())\n",
        encoding="utf-8",
    )
    return {"PYTHONPATH": str(blocker), "GLFCR_PYTHONPATH": None, "GLFCR_NO_VENV": "1"}


def test_zip_install_without_torch_lists_all_algorithms(zip_install, tmp_path):
    config = tmp_path / "config"
    enable_plugin_in_profile(config)
    completed = run_qgis_process_command(
        ["--json", "list"], extra_env=_blocked_torch_env(tmp_path), timeout=120,
        plugin_dir=zip_install, config_dir=config,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    assert sorted(json.loads(completed.stdout)["providers"]["glfcr"]["algorithms"]) == EXPECTED_IDS


def test_zip_install_without_torch_fails_with_one_sentence(zip_install, tmp_path, shared_dir):
    samples = shared_dir / "data" / "sen12mscr_samples"
    config = tmp_path / "config"
    enable_plugin_in_profile(config)
    completed = run_qgis_process_command(
        [
            "run", "glfcr:removeclouds", "--",
            f"CLOUDY={samples / 's2_cloudy' / SAMPLE}",
            f"SAR={samples / 's1' / SAMPLE}",
            # required without a default (qgis_process checks that before the algorithm's own checks)
            f"WEIGHTS={shared_dir / 'reference' / 'glfcr_random_ckpt.pth'}",
            f"OUTPUT={tmp_path / 'cloud_free.tif'}",
        ],
        extra_env=_blocked_torch_env(tmp_path), timeout=120, plugin_dir=zip_install, config_dir=config,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert MISSING_TORCH_MESSAGE in output
    assert "Traceback" not in output
    assert not (tmp_path / "cloud_free.tif").exists()
