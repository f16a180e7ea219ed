"""The provider's settings: defaults set once in Settings > Options > Processing > Providers > GLF-CR.

They are Processing provider settings (``ProcessingConfig``), registered when the provider loads, so
they appear where QGIS users look for them. QGIS stores them in its settings under
``Processing/Configuration/<KEY>``; the algorithms read them from there, so ``qgis_process`` (which may
run without the options page) sees the same values.
"""

from __future__ import annotations

import os
from typing import Any

from qgis.core import QgsSettings
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from .core.scene.pipeline import DEFAULT_OVERLAP, DEFAULT_TILE_SIZE
from .core.scene.tiling import validate_tiling

SETTINGS_GROUP = "GLF-CR"
CHECKPOINT = "GLFCR_CHECKPOINT"
DEVICE = "GLFCR_DEVICE"
TILE_SIZE = "GLFCR_TILE_SIZE"
OVERLAP = "GLFCR_OVERLAP"
# enum index -> core value; the order of the Device parameters' options
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
# before the options page existed, the checkpoint lived under this key alone; still read when unset
LEGACY_CHECKPOINT_KEY = "glfcr/weights"
_PREFIX = "Processing/Configuration/"


# key -> its label on the options page
_DESCRIPTIONS = {
    CHECKPOINT: "Default GLF-CR checkpoint (e.g. CR_net.pth)",
    DEVICE: "Default device",
    TILE_SIZE: "Default tile size (pixels, multiple of 16)",
    OVERLAP: "Default tile overlap (pixels, less than half a tile)",
}


def settings_key(name: str) -> str:
    """The QGIS settings key under which Processing stores the provider setting ``name``."""
    return _PREFIX + name


def _tr(text: str) -> str:
    return QCoreApplication.translate("GlfcrSettings", text)


def _stored(name: str) -> Any:
    """The stored value of provider setting ``name``, None when it was never set."""
    settings = QgsSettings()
    return settings.value(settings_key(name)) if settings.contains(settings_key(name)) else None


def _as_int(value: Any, fallback: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return fallback


def checkpoint_setting() -> str:
    """The default checkpoint from the options page, else the legacy ``glfcr/weights`` ("" if neither)."""
    stored = _stored(CHECKPOINT)
    if stored is None:
        stored = QgsSettings().value(LEGACY_CHECKPOINT_KEY, "")
    return str(stored or "").strip()


def set_checkpoint_setting(path: str | os.PathLike[str]) -> None:
    """Make ``path`` the default checkpoint, on the options page too when it is registered."""
    value = str(path)
    settings = QgsSettings()
    settings.setValue(settings_key(CHECKPOINT), value)
    settings.remove(LEGACY_CHECKPOINT_KEY)  # one place holds the default from now on
    registered = _registered_settings().get(CHECKPOINT)
    if registered is not None:
        # the options page saves its in-memory values on OK: keep them current
        registered.value = value


def device_index_setting() -> int:
    """Index in ``DEVICES`` of the default device (0, "auto", when unset or unreadable)."""
    index = _as_int(_stored(DEVICE), 0)
    return index if 0 <= index < len(DEVICES) else 0


def tiling_settings() -> tuple[int, int]:
    """The default tile size and overlap; the core's defaults when unset or not a usable pair."""
    tile_size = _as_int(_stored(TILE_SIZE), DEFAULT_TILE_SIZE)
    overlap = _as_int(_stored(OVERLAP), DEFAULT_OVERLAP)
    try:
        validate_tiling(tile_size, overlap)
    except ValueError:
        return DEFAULT_TILE_SIZE, DEFAULT_OVERLAP
    return tile_size, overlap


def _registered_settings() -> dict[str, Any]:
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:  # Processing's Python side is not loaded (a bare PyQGIS script)
        return {}
    return {name: setting for name, setting in ProcessingConfig.settings.items() if name in _DESCRIPTIONS}


def register_settings(icon: QIcon) -> bool:
    """Add the provider's settings to Processing's options page (when the provider loads).

    Returns:
        Whether they were registered (False where Processing's Python side is not loaded).
    """
    try:
        from processing.core.ProcessingConfig import ProcessingConfig, Setting
    except ImportError:
        return False
    ProcessingConfig.settingIcons[SETTINGS_GROUP] = icon
    # the checkpoint's default is the legacy key's value, so saving the options page carries it over
    defaults = {
        CHECKPOINT: (checkpoint_setting(), {"valuetype": Setting.FILE}),
        DEVICE: (DEVICES[0], {"valuetype": Setting.SELECTION, "options": list(DEVICES)}),
        TILE_SIZE: (DEFAULT_TILE_SIZE, {"valuetype": Setting.INT, "validator": _check_tile_size}),
        OVERLAP: (DEFAULT_OVERLAP, {"valuetype": Setting.INT, "validator": _check_overlap}),
    }
    for key, (default, options) in defaults.items():
        setting = Setting(SETTINGS_GROUP, key, _tr(_DESCRIPTIONS[key]), default, **options)
        setting.read()
        ProcessingConfig.addSetting(setting)
    return True


def unregister_settings() -> None:
    """Remove the provider's settings from the options page (when the provider unloads)."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:
        return
    for key in _DESCRIPTIONS:
        ProcessingConfig.settings.pop(key, None)


def _check_tile_size(value: Any) -> None:
    size = _as_int(value, -1)
    if size < 16 or size % 16:
        message = _tr("The default tile size must be a multiple of 16 pixels, e.g. 384; got {value}.")
        raise ValueError(message.format(value=value))


def _check_overlap(value: Any) -> None:
    if _as_int(value, -1) < 0:
        message = _tr("The default tile overlap must be 0 or more pixels, e.g. 32; got {value}.")
        raise ValueError(message.format(value=value))
