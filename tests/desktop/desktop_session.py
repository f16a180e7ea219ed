"""A QGIS desktop session as an analyst runs it, for ``qgis --code`` (driven by test_desktop_session.py).

Loads a cloudy Sentinel-2 and a SAR raster as layers, then twice in a row runs Remove Clouds twice and
Cloud Mask twice through the algorithm dialog (Run pressed; the run in a background task; outputs
loaded through the post-processors), records the layers, every message QGIS logged as Critical and a
screenshot, writes the result JSON and quits QGIS. Its settings come from the environment variable
GLFCR_DESKTOP_CONFIG, the path of a JSON file with ``cloudy``, ``sar``, ``out_dir``.
"""

import json
import os
import time
import traceback
from pathlib import Path

from qgis.core import Qgis, QgsApplication, QgsProject, QgsRasterLayer
from qgis.PyQt.QtCore import QEventLoop, QTimer
from qgis.PyQt.QtWidgets import QTextEdit
from qgis.utils import iface

CONFIG = json.loads(Path(os.environ["GLFCR_DESKTOP_CONFIG"]).read_text(encoding="utf-8"))
OUT_DIR = Path(CONFIG["out_dir"])
RUN_TIMEOUT_MS = 240_000
critical_messages = []


def record_critical(message, tag, level):
    if level == Qgis.Critical:
        critical_messages.append(f"[{tag}] {message}")


def wait(milliseconds):
    loop = QEventLoop()
    QTimer.singleShot(milliseconds, loop.quit)
    loop.exec_()


def run_in_dialog(alg_id, parameters):
    """Open the algorithm's dialog with ``parameters``, press Run, wait until it has loaded the outputs."""
    import processing

    dialog = processing.createAlgorithmDialog(alg_id, parameters)
    outcome = {}
    loop = QEventLoop()

    def finished(ok, results):
        outcome.update(ok=bool(ok), results={key: str(value) for key, value in results.items()})
        loop.quit()

    dialog.algorithmFinished.connect(finished)
    QTimer.singleShot(RUN_TIMEOUT_MS, loop.quit)
    dialog.show()
    started = time.perf_counter()
    dialog.runAlgorithm()  # what the Run button does
    if not outcome:
        loop.exec_()
    outcome["seconds"] = round(time.perf_counter() - started, 2)
    outcome.setdefault("ok", None)  # None: no answer within the timeout
    log = dialog.findChild(QTextEdit, "txtLog")
    outcome["log"] = log.toPlainText() if log is not None else ""
    dialog.close()
    dialog.deleteLater()
    return outcome


def describe_layer(layer):
    renderer = layer.renderer()
    kind = renderer.type() if renderer is not None else None
    description = {"name": layer.name(), "source": layer.source(), "renderer": kind}
    if renderer is not None and renderer.type() == "multibandcolor":
        description["rgb_bands"] = [renderer.redBand(), renderer.greenBand(), renderer.blueBand()]
    if renderer is not None and renderer.type() == "paletted":
        description["classes"] = [[c.value, c.label, c.color.alpha()] for c in renderer.classes()]
    return description


def one_pass(number, cloudy, sar):
    runs = []
    for run in (1, 2):
        runs.append(run_in_dialog("glfcr:removeclouds", {
            "CLOUDY": cloudy.id(), "SAR": sar.id(),
            "OUTPUT": str(OUT_DIR / f"pass{number}_cloud_free_{run}.tif"),
        }))
    for run in (1, 2):
        runs.append(run_in_dialog("glfcr:cloudmask", {
            "INPUT": cloudy.id(), "OUTPUT": str(OUT_DIR / f"pass{number}_mask_{run}.tif"),
        }))
    outputs = [
        describe_layer(layer)
        for layer in QgsProject.instance().mapLayers().values()
        if Path(layer.source()).name.startswith(f"pass{number}_")
    ]
    return {"runs": runs, "layers": sorted(outputs, key=lambda layer: layer["source"])}


def screenshot(path):
    canvas = iface.mapCanvas()
    canvas.zoomToFullExtent()
    canvas.refreshAllLayers()
    wait(1500)
    iface.mainWindow().grab().save(str(path))


def main():
    result = {"passes": [], "errors": []}
    try:
        QgsApplication.messageLog().messageReceived.connect(record_critical)
        project = QgsProject.instance()
        cloudy = QgsRasterLayer(CONFIG["cloudy"], "Cloudy scene")
        sar = QgsRasterLayer(CONFIG["sar"], "SAR scene")
        project.addMapLayers([cloudy, sar])
        result["provider_loaded"] = QgsApplication.processingRegistry().providerById("glfcr") is not None
        for number in (1, 2):
            result["passes"].append(one_pass(number, cloudy, sar))
            if number == 1:
                screenshot(OUT_DIR / "desktop.png")
    except Exception:  # noqa: BLE001 (everything goes into the result the test reads)
        result["errors"].append(traceback.format_exc())
    result["critical_messages"] = critical_messages
    write_result(result)
    # the outputs live in a temporary folder: without clearing the project, quitting would ask whether
    # to lose these "temporary layers"
    QgsProject.instance().clear()
    iface.actionExit().trigger()


def write_result(result):
    (OUT_DIR / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


def give_up():
    """A run or a question that never ends: say so, and leave without waiting for anything."""
    write_result({"passes": [], "errors": ["the session did not finish within its time"],
                  "critical_messages": critical_messages})
    iface.mainWindow().grab().save(str(OUT_DIR / "desktop_stuck.png"))
    os._exit(3)


# runs once QGIS's event loop is up, as an analyst's first click would
QTimer.singleShot(0, main)
QTimer.singleShot(int(CONFIG.get("give_up_seconds", 400)) * 1000, give_up)
