"""The GLF-CR algorithms chained in a graphical-modeler model: Cloud Mask -> Remove Clouds -> Evaluate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from conftest import RecordingFeedback
from scene_rasters import (
    optical_dn,
    single_thread_torch,  # noqa: F401  (fixture)
    write_raster,
    write_scene,
)


def _child(algorithm_id: str, child_id: str, sources: dict[str, Any], outputs: dict[str, str]) -> Any:
    """A model step running ``algorithm_id``, its other parameters at their defaults as the modeler sets them.

    ``sources`` values are model inputs ("@name"), child outputs ("child.OUTPUT") or static values;
    ``outputs`` maps the step's outputs to model output names.
    """
    from qgis.core import (
        QgsApplication,
        QgsProcessingDestinationParameter,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
    )

    child = QgsProcessingModelChildAlgorithm(algorithm_id)
    child.setChildId(child_id)
    child.setDescription(child_id)
    definitions = QgsApplication.processingRegistry().algorithmById(algorithm_id).parameterDefinitions()
    defaults = {
        p.name(): p.defaultValue()
        for p in definitions
        if not isinstance(p, QgsProcessingDestinationParameter) and p.defaultValue() is not None
    }
    for name, value in {**defaults, **sources}.items():
        if isinstance(value, str) and value.startswith("@"):
            source = QgsProcessingModelChildParameterSource.fromModelParameter(value[1:])
        elif isinstance(value, str) and "." in value and not value.startswith("/"):
            source = QgsProcessingModelChildParameterSource.fromChildOutput(*value.split("."))
        else:
            source = QgsProcessingModelChildParameterSource.fromStaticValue(value)
        child.addParameterSources(name, [source])
    model_outputs = {}
    for output_name, model_name in outputs.items():
        output = QgsProcessingModelOutput(model_name)
        output.setChildId(child_id)
        output.setChildOutputName(output_name)
        model_outputs[model_name] = output
    child.setModelOutputs(model_outputs)
    return child


def build_model(weights: Path, report: Path) -> Any:
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelParameter,
        QgsProcessingParameterRasterLayer,
    )

    model = QgsProcessingModelAlgorithm("Cloud removal chain", "GLF-CR tests")
    for name in ("cloudy", "sar", "reference"):
        model.addModelParameter(
            QgsProcessingParameterRasterLayer(name, name), QgsProcessingModelParameter(name)
        )
    model.addChildAlgorithm(_child("glfcr:cloudmask", "mask", {"INPUT": "@cloudy"}, {"OUTPUT": "cloud_mask"}))
    remove_sources = {
        "CLOUDY": "@cloudy", "SAR": "@sar", "WEIGHTS": str(weights), "DEVICE": 1,
        "TILE_SIZE": 32, "OVERLAP": 0, "OUTPUT_TYPE": 0, "KEEP_CLEAR": True,
    }  # fmt: skip
    remove_outputs = {"OUTPUT": "cloud_free", "PROVENANCE": "provenance"}
    model.addChildAlgorithm(_child("glfcr:removeclouds", "remove", remove_sources, remove_outputs))
    evaluate_sources = {
        "PREDICTION": "remove.OUTPUT", "REFERENCE": "@reference", "MASK": "mask.OUTPUT",
        "PROVENANCE": "remove.PROVENANCE", "REPORT_JSON": str(report),
    }  # fmt: skip
    model.addChildAlgorithm(_child("glfcr:evaluate", "evaluate", evaluate_sources, {}))
    return model


@pytest.mark.usefixtures("single_thread_torch")
def test_cloud_mask_remove_clouds_evaluate_chain(qgis_app: Any, shared_dir: Path, tmp_path: Path) -> None:
    import processing
    from qgis.core import QgsProcessingModelAlgorithm

    cloudy, sar = write_scene(tmp_path, 32, 32)
    reference = write_raster(tmp_path / "reference.tif", optical_dn(32, 32, seed=9))
    report = tmp_path / "report.json"
    model = build_model(shared_dir / "reference" / "glfcr_random_ckpt.pth", report)
    assert model.validate()[0], model.validate()[1]
    # survives the round trip through a .model3 file, as the graphical modeler saves it
    model_file = tmp_path / "chain.model3"
    assert model.toFile(str(model_file))
    reloaded = QgsProcessingModelAlgorithm()
    assert reloaded.fromFile(str(model_file))
    reloaded.initAlgorithm({})
    child_ids = sorted(reloaded.childAlgorithms())
    assert child_ids == ["evaluate", "mask", "remove"]

    results = processing.run(
        reloaded,
        {
            "cloudy": str(cloudy),
            "sar": str(sar),
            "reference": str(reference),
            "mask:cloud_mask": str(tmp_path / "mask.tif"),
            "remove:cloud_free": str(tmp_path / "cloud_free.tif"),
            "remove:provenance": str(tmp_path / "provenance.tif"),
        },
        feedback=RecordingFeedback(),
    )
    assert Path(results["remove:cloud_free"]) == tmp_path / "cloud_free.tif"
    with rasterio.open(tmp_path / "cloud_free.tif") as out, rasterio.open(cloudy) as src:
        assert (out.count, out.shape, out.transform) == (13, src.shape, src.transform)
        assert out.tags()["keep_clear"] == "True"
        assert np.any(out.read() != src.read())  # the random seeded scene reads as cloudy in places
    scores = json.loads(report.read_text())  # Evaluate scored Remove Clouds' output, masked by Cloud Mask
    assert Path(scores["inputs"]["prediction"]) == tmp_path / "cloud_free.tif"
    assert Path(scores["inputs"]["mask"]) == tmp_path / "mask.tif"
    assert np.isfinite(scores["metrics"]["all"]["psnr"])
    # and split them by where Remove Clouds' values came from, read from its provenance output
    with rasterio.open(tmp_path / "provenance.tif") as origin, rasterio.open(tmp_path / "mask.tif") as mask:
        origin = origin.read(1)[mask.read(1) != 0]
    assert scores["pixels"]["predicted"] == np.isin(origin, (1, 2, 3)).sum() > 0
    assert scores["pixels"]["observed"] == (origin == 0).sum()
