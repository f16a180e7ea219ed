"""The provider settings page (Settings > Options > Processing > Providers > GLF-CR) and what it sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SETTING_NAMES = ("GLFCR_CHECKPOINT", "GLFCR_DEVICE", "GLFCR_TILE_SIZE", "GLFCR_OVERLAP")


@pytest.fixture
def clean_settings(qgis_app: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """QgsSettings without any GLF-CR default (restored afterwards), and no GLFCR_WEIGHTS."""
    from qgis.core import QgsSettings

    from glfcr_qgis.settings import LEGACY_CHECKPOINT_KEY, settings_key

    monkeypatch.delenv("GLFCR_WEIGHTS", raising=False)
    settings = QgsSettings()
    keys = [settings_key(name) for name in SETTING_NAMES] + [LEGACY_CHECKPOINT_KEY]
    saved = {key: settings.value(key) for key in keys if settings.contains(key)}
    for key in keys:
        settings.remove(key)
    yield settings
    for key in keys:
        settings.remove(key)
    for key, value in saved.items():
        settings.setValue(key, value)


def algorithm(alg_id: str) -> Any:
    from qgis.core import QgsApplication

    return QgsApplication.processingRegistry().createAlgorithmById(alg_id)


def test_settings_are_on_the_options_page_under_the_provider(qgis_app: Any) -> None:
    from processing.core.ProcessingConfig import ProcessingConfig, Setting

    groups = ProcessingConfig.getSettings()
    ours = {setting.name: setting for setting in groups["GLF-CR"]}
    assert sorted(ours) == sorted(SETTING_NAMES)
    assert ours["GLFCR_CHECKPOINT"].valuetype == Setting.FILE
    assert ours["GLFCR_DEVICE"].options == ["auto", "cpu", "cuda"]
    assert "Default GLF-CR checkpoint" in ours["GLFCR_CHECKPOINT"].description
    with pytest.raises(ValueError, match="multiple of 16"):
        ours["GLFCR_TILE_SIZE"].validator("100")
    with pytest.raises(ValueError, match="0 or more"):
        ours["GLFCR_OVERLAP"].validator("-1")


def test_saved_settings_become_the_parameter_defaults(clean_settings: Any, tmp_path: Path) -> None:
    from processing.core.ProcessingConfig import ProcessingConfig
    from qgis.core import QgsProcessingParameterDefinition

    checkpoint = tmp_path / "CR_net.pth"
    checkpoint.write_bytes(b"\x80")
    # what the options page does on OK
    saved = {"GLFCR_CHECKPOINT": str(checkpoint), "GLFCR_TILE_SIZE": "256", "GLFCR_OVERLAP": "16"}
    for name, value in saved.items():
        ProcessingConfig.settings[name].setValue(value)
        ProcessingConfig.settings[name].save()
    ProcessingConfig.setSettingValue("GLFCR_DEVICE", 1)
    remove = algorithm("glfcr:removeclouds")
    definition = remove.parameterDefinition
    assert definition("WEIGHTS").defaultValue() == str(checkpoint)
    # with a default, leaving the parameter out is fine (qgis_process checks it without its default)
    assert definition("WEIGHTS").flags() & QgsProcessingParameterDefinition.FlagOptional
    assert (definition("TILE_SIZE").defaultValue(), definition("OVERLAP").defaultValue()) == (256, 16)
    assert definition("DEVICE").defaultValue() == 1
    dataset = algorithm("glfcr:evaluatedataset")  # owns its parameter definitions
    assert dataset.parameterDefinition("WEIGHTS").defaultValue() == str(checkpoint)
    assert dataset.parameterDefinition("DEVICE").defaultValue() == 1


def test_an_unusable_tiling_setting_falls_back_to_the_core_defaults(clean_settings: Any) -> None:
    from glfcr_qgis.core.scene.pipeline import DEFAULT_OVERLAP, DEFAULT_TILE_SIZE
    from glfcr_qgis.settings import settings_key, tiling_settings

    clean_settings.setValue(settings_key("GLFCR_TILE_SIZE"), "64")
    clean_settings.setValue(settings_key("GLFCR_OVERLAP"), "40")  # not less than half a tile
    assert tiling_settings() == (DEFAULT_TILE_SIZE, DEFAULT_OVERLAP)


def test_checkpoint_is_required_without_a_default_and_says_where_to_get_it(clean_settings: Any) -> None:
    from qgis.core import QgsProcessingContext, QgsProcessingParameterDefinition

    for alg_id in ("glfcr:removeclouds", "glfcr:evaluatedataset"):
        instance = algorithm(alg_id)  # owns its parameter definitions
        weights = instance.parameterDefinition("WEIGHTS")
        assert not weights.flags() & QgsProcessingParameterDefinition.FlagOptional
        assert weights.defaultValue() is None
    ok, message = algorithm("glfcr:removeclouds").checkParameterValues({}, QgsProcessingContext())
    assert not ok and "github.com/xufangchn/GLF-CR" in message
    assert "Options > Processing > Providers > GLF-CR" in message


def test_the_checkpoint_manager_and_the_options_page_share_one_default(
    clean_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processing.core.ProcessingConfig import ProcessingConfig

    from glfcr_qgis.algorithms.weights import default_weights_path, set_default_weights_path
    from glfcr_qgis.settings import LEGACY_CHECKPOINT_KEY

    # a default from before the options page still counts while the new setting was never saved
    clean_settings.setValue(LEGACY_CHECKPOINT_KEY, str(tmp_path / "legacy.pth"))
    assert default_weights_path() == str(tmp_path / "legacy.pth")
    set_default_weights_path(str(tmp_path / "managed.pth"))
    assert default_weights_path() == str(tmp_path / "managed.pth")
    assert ProcessingConfig.getSetting("GLFCR_CHECKPOINT") == str(tmp_path / "managed.pth")
    assert not clean_settings.contains(LEGACY_CHECKPOINT_KEY)
    # the options page writes where the manager reads
    ProcessingConfig.settings["GLFCR_CHECKPOINT"].value = ""
    ProcessingConfig.settings["GLFCR_CHECKPOINT"].save()
    assert default_weights_path() == ""
    # the environment wins over the setting, an explicit parameter over both
    set_default_weights_path(str(tmp_path / "managed.pth"))
    monkeypatch.setenv("GLFCR_WEIGHTS", str(tmp_path / "from_env.pth"))
    assert default_weights_path() == str(tmp_path / "from_env.pth")
    remove = algorithm("glfcr:removeclouds")
    assert remove.parameterDefinition("WEIGHTS").defaultValue() == str(tmp_path / "from_env.pth")
