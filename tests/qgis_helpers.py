"""Running GLF-CR algorithms in tests: in-process through ``processing.run`` or as ``qgis_process.bin``.

Both paths load the plugin from THIS checkout, never from a copy deployed in the user's QGIS profile,
and neither touches the user's QGIS settings: settings go to a throwaway config folder.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from paths import REPO_ROOT, SHARED_DIR  # noqa: F401  (re-exported)

PLUGIN_NAME = "glfcr_qgis"
QGIS_PROCESS = shutil.which("qgis_process.bin") or "/usr/bin/qgis_process.bin"

# the checkout's package, not an installed copy, is the one under test
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# GDAL would write .aux.xml statistics beside every raster QGIS opens, including the read-only
# shared test material: tests never write beside their inputs
os.environ["GDAL_PAM_ENABLED"] = "NO"

from qgis.core import QgsProcessingFeedback  # noqa: E402  (needs the platform set first)


@lru_cache(maxsize=1)
def scratch_qgis_home() -> Path:
    """A per-session folder holding a QGIS config (profile) and a plugin folder linking to this checkout."""
    home = Path(tempfile.mkdtemp(prefix="glfcr_qgis_tests_"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    (home / "plugins").mkdir()
    (home / "plugins" / PLUGIN_NAME).symlink_to(REPO_ROOT / PLUGIN_NAME, target_is_directory=True)
    enable_plugin_in_profile(home / "config")
    return home


def enable_plugin_in_profile(config_dir: Path) -> None:
    """Mark the plugin enabled in the default profile under ``config_dir`` (what ``plugins enable`` writes)."""
    ini = config_dir / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(f"[PythonPlugins]\n{PLUGIN_NAME}=true\n", encoding="utf-8")


def qgis_process_env(
    plugin_dir: Path | None = None,
    config_dir: Path | None = None,
    extra_env: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """Environment for ``qgis_process.bin`` seeing the plugin in ``plugin_dir`` enabled in ``config_dir``.

    Args:
        plugin_dir: folder holding ``glfcr_qgis/``; defaults to a link to this checkout.
        config_dir: QGIS config folder where the plugin is enabled; defaults to a throwaway one.
        extra_env: variables to set; a value of None removes the variable.
    """
    home = scratch_qgis_home()
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        QGIS_PLUGINPATH=str(plugin_dir or home / "plugins"),
        QGIS_CUSTOM_CONFIG_PATH=str(config_dir or home / "config"),
    )
    for key, value in (extra_env or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def qgis_process_args(params: Mapping[str, Any]) -> list[str]:
    """``KEY=VALUE`` arguments for ``qgis_process run``; a list value repeats the key."""
    args = []
    for key, value in params.items():
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        for item in values:
            if isinstance(item, bool):
                item = "true" if item else "false"
            args.append(f"{key}={item}")
    return args


def run_qgis_process_command(
    command: Sequence[str],
    extra_env: Mapping[str, str | None] | None = None,
    timeout: float = 600,
    **env_kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run ``qgis_process.bin <command...>`` headless with the test plugin folder and profile."""
    return subprocess.run(
        [QGIS_PROCESS, *command],
        env=qgis_process_env(extra_env=extra_env, **env_kwargs),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_qgis_process(
    alg_id: str,
    params: Mapping[str, Any],
    extra_env: Mapping[str, str | None] | None = None,
    timeout: float = 600,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Run one algorithm with ``qgis_process.bin --json run`` in a subprocess.

    Args:
        alg_id: e.g. ``"glfcr:cloudmask"``.
        params: parameter name -> value (paths and numbers are passed as text).
        extra_env: variables to set for the subprocess; a value of None removes one.
        timeout: seconds before the subprocess is killed.
        **env_kwargs: ``plugin_dir`` and ``config_dir`` for ``qgis_process_env`` (other plugins or profile).

    Returns:
        The JSON qgis_process printed (keys ``results``, ``inputs``, ``log``, ... ; empty when it failed)
        plus ``returncode``, ``stdout``, ``stderr`` and ``json`` (the parsed JSON or None).
    """
    completed = run_qgis_process_command(
        ["--json", "run", alg_id, "--", *qgis_process_args(params)], extra_env, timeout, **env_kwargs
    )
    try:
        parsed = json.loads(completed.stdout) if completed.stdout.strip() else None
    except json.JSONDecodeError:
        parsed = None
    result: dict[str, Any] = dict(parsed or {})
    result.update(
        returncode=completed.returncode, stdout=completed.stdout, stderr=completed.stderr, json=parsed
    )
    return result


_app: Any = None


def start_qgis() -> Any:
    """Start (once) a headless QgsApplication with Processing and the ``glfcr`` provider registered."""
    global _app
    if _app is not None:
        return _app
    # settings go to the throwaway profile, never the user's
    os.environ["QGIS_CUSTOM_CONFIG_PATH"] = str(scratch_qgis_home() / "config")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    # the Processing framework's Python side ships as a core plugin, outside the default sys.path
    plugins_path = str(Path(QgsApplication.pkgDataPath()) / "python" / "plugins")
    if plugins_path not in sys.path:
        sys.path.append(plugins_path)
    from processing.core.Processing import Processing

    Processing.initialize()
    from glfcr_qgis.plugin import GlfcrPlugin

    plugin = GlfcrPlugin()
    plugin.initProcessing()
    app.glfcr_plugin = plugin  # keep the provider alive as long as the app
    _app = app
    return app


def processing_run(
    alg_id: str,
    params: Mapping[str, Any],
    feedback: QgsProcessingFeedback | None = None,
) -> dict[str, Any]:
    """Run one algorithm in this process with ``processing.run``; raises QgsProcessingException on failure."""
    start_qgis()
    import processing

    return processing.run(alg_id, dict(params), feedback=feedback or RecordingFeedback())


class RecordingFeedback(QgsProcessingFeedback):
    """Feedback that remembers what an algorithm reported, for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: list[str] = []
        self.infos: list[str] = []
        self.errors: list[str] = []
        self.progress_values: list[float] = []
        self.progressChanged.connect(self.progress_values.append)

    def pushWarning(self, warning: str) -> None:  # noqa: N802 (QGIS API name)
        self.warnings.append(warning)
        super().pushWarning(warning)

    def pushInfo(self, info: str) -> None:  # noqa: N802
        self.infos.append(info)
        super().pushInfo(info)

    def reportError(self, error: str, fatalError: bool = False) -> None:  # noqa: N802, N803
        self.errors.append(error)
        super().reportError(error, fatalError)
