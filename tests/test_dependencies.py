"""Finding torch from QGIS's Python, and the algorithm base class turning core failures into Processing ones."""

from __future__ import annotations

import sys
import warnings

import pytest
from qgis.core import QgsProcessingException
from qgis_helpers import RecordingFeedback

from glfcr_qgis import dependencies
from glfcr_qgis.algorithms.base import GlfcrAlgorithm
from glfcr_qgis.core.errors import GlfcrWarning, InputRasterError, MissingDependencyError
from glfcr_qgis.dependencies import (
    MISSING_TORCH_MESSAGE,
    add_venv_to_path,
    require_torch,
    torch_available,
    venv_site_packages,
)


class _Algorithm(GlfcrAlgorithm):
    def name(self) -> str:
        return "testalgorithm"

    def displayName(self) -> str:  # noqa: N802
        return "Test algorithm"

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        pass

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        return {}


@pytest.fixture
def no_torch(monkeypatch):
    """Make ``import torch`` fail in this process, as in a QGIS without torch."""
    monkeypatch.setitem(sys.modules, "torch", None)


def test_missing_torch_message_is_one_sentence_naming_package_and_fix():
    assert MISSING_TORCH_MESSAGE.endswith(".") and ". " not in MISSING_TORCH_MESSAGE
    assert "'torch'" in MISSING_TORCH_MESSAGE and "./install.sh" in MISSING_TORCH_MESSAGE


def test_venv_site_packages_is_found_beside_the_linked_package(tmp_path):
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = tmp_path / "checkout" / ".venv" / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (tmp_path / "checkout" / "glfcr_qgis").mkdir()
    # deployed as a link in the QGIS profile: the venv is found through the link's target
    (tmp_path / "glfcr_qgis").symlink_to(tmp_path / "checkout" / "glfcr_qgis")
    assert venv_site_packages(tmp_path / "glfcr_qgis") == [site]
    assert venv_site_packages(tmp_path / "elsewhere" / "glfcr_qgis") == []


def test_add_venv_to_path_appends_extra_paths_after_qgis_own(monkeypatch, tmp_path):
    extra = [tmp_path / "a", tmp_path / "b"]
    for folder in extra:
        folder.mkdir()
    monkeypatch.setattr(sys, "path", ["/qgis/python"])
    monkeypatch.setenv("GLFCR_PYTHONPATH", f"{extra[0]}:{tmp_path / 'missing'}:{extra[1]}")
    monkeypatch.setenv("GLFCR_NO_VENV", "1")
    assert add_venv_to_path() == [str(extra[0]), str(extra[1])]
    assert sys.path == ["/qgis/python", str(extra[0]), str(extra[1])]
    assert add_venv_to_path() == []  # idempotent


def test_add_venv_to_path_adds_the_checkout_venv(monkeypatch, tmp_path):
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [])
    monkeypatch.delenv("GLFCR_PYTHONPATH", raising=False)
    monkeypatch.delenv("GLFCR_NO_VENV", raising=False)
    monkeypatch.setattr(dependencies, "venv_site_packages", lambda: [site])
    assert add_venv_to_path() == [str(site)]


def test_torch_missing_is_reported_with_the_sentence(no_torch):
    assert not torch_available()
    with pytest.raises(MissingDependencyError) as caught:
        require_torch()
    assert str(caught.value) == MISSING_TORCH_MESSAGE


def test_algorithm_require_torch_raises_processing_exception(qgis_app, no_torch):
    with pytest.raises(QgsProcessingException) as caught:
        _Algorithm().require_torch()
    assert str(caught.value) == MISSING_TORCH_MESSAGE


def test_core_call_turns_glfcr_errors_into_processing_exceptions(qgis_app):
    with pytest.raises(QgsProcessingException) as caught:
        with _Algorithm().core_call(RecordingFeedback()):
            raise InputRasterError("The SAR raster has 3 bands; give VV and VH.")
    assert str(caught.value) == "The SAR raster has 3 bands; give VV and VH."


def test_core_call_turns_a_torch_import_error_into_the_sentence(qgis_app, no_torch):
    with pytest.raises(QgsProcessingException) as caught:
        with _Algorithm().core_call(RecordingFeedback()):
            import torch  # noqa: F401
    assert str(caught.value) == MISSING_TORCH_MESSAGE


def test_core_call_lets_other_import_errors_and_bugs_through(qgis_app):
    with pytest.raises(ImportError):
        with _Algorithm().core_call(RecordingFeedback()):
            raise ImportError("No module named 'scipy'", name="scipy")
    with pytest.raises(ZeroDivisionError):
        with _Algorithm().core_call(RecordingFeedback()):
            1 / 0  # noqa: B018


def test_core_call_forwards_glfcr_warnings_to_feedback(qgis_app):
    feedback = RecordingFeedback()
    with _Algorithm().core_call(feedback):
        warnings.warn("Tile 3 is all nodata; left empty.", GlfcrWarning)
        warnings.warn("Tile 3 is all nodata; left empty.", GlfcrWarning)
        with pytest.warns(UserWarning, match="unrelated"):
            warnings.warn("unrelated", UserWarning)
    assert feedback.warnings == ["Tile 3 is all nodata; left empty."] * 2


def test_core_call_hooks_report_progress_and_cancel(qgis_app):
    feedback = RecordingFeedback()
    with _Algorithm().core_call(feedback) as hooks:
        hooks.progress(0.25)
        hooks.progress(1.5)
        assert not hooks.is_canceled()
        feedback.cancel()
        assert hooks.is_canceled()
    assert feedback.progress_values == [25.0, 100.0]


def test_algorithm_group_help_and_instance(qgis_app):
    algorithm = _Algorithm()
    assert algorithm.groupId() == "cloudremoval" and algorithm.group() == "Cloud removal"
    assert algorithm.helpUrl().startswith("https://")
    assert not algorithm.icon().isNull()
    assert type(algorithm.createInstance()) is _Algorithm
