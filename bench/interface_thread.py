"""(e) What an algorithm costs QGIS's interface thread when the analyst presses Run.

    .venv/bin/python bench/interface_thread.py [--repeats 5] [--probes 3]

The Processing dialog runs on the interface thread: creating the algorithm (``createAlgorithmById``:
``createInstance`` + ``initAlgorithm``), ``checkParameterValues`` and the task's ``prepare``; only
``processAlgorithm`` runs in a worker thread. This times those calls for each algorithm on the
SEN12MS-CR samples loaded as project layers, as the dialog passes them (median of ``--repeats``).

Then, in fresh interpreters, the longest time the interface thread waits for Python's GIL while a
worker thread runs the first seconds of Remove Clouds (importing torch, reading the checkpoint): the
interface thread needs the GIL for every Python slot and widget of the dialog, so that wait is how
long the window cannot repaint. ``import`` is a plain ``import torch`` (as before the fix);
``require_torch`` first loads torch's libraries through dlopen without the GIL (the plugin's way).
Each is probed ``--probes`` times, alternately.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"
SAMPLES = SHARED / "data" / "sen12mscr_samples"
SAMPLE = "ROIs2017_winter_112_p797.tif"
CHECKPOINT = SHARED / "reference" / "glfcr_random_ckpt.pth"

# Run in a fresh interpreter: a worker imports torch and loads the checkpoint while this thread
# sleeps 1 ms at a time; each wake-up needs the GIL, so the longest gap is the longest freeze.
_STALL_PROBE = r"""
import sys, threading, time
sys.path.insert(0, {repo!r})
import glfcr_qgis  # the plugin's own start-up: makes the venv importable
def work():
    if {mode!r} == "import":
        import torch
    else:
        from glfcr_qgis.dependencies import require_torch
        require_torch()
    from glfcr_qgis.core.model.inference import prepare_model
    prepare_model({checkpoint!r}, "cpu")
worker = threading.Thread(target=work)
longest = 0.0
start = time.perf_counter()
worker.start()
while worker.is_alive():
    before = time.perf_counter()
    time.sleep(0.001)
    longest = max(longest, time.perf_counter() - before - 0.001)
print(f"{{time.perf_counter() - start:.3f}} {{longest:.3f}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--probes", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from qgis_helpers import start_qgis

    started = time.perf_counter()
    start_qgis()
    print(f"QGIS with Processing and the plugin started in {time.perf_counter() - started:.2f} s")
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProject, QgsRasterLayer

    project = QgsProject.instance()
    folders = ("s2_cloudy", "s1", "s2_cloudfree")
    layers = [QgsRasterLayer(str(SAMPLES / folder / SAMPLE), folder) for folder in folders]
    project.addMapLayers(layers)
    cloudy, sar, cloudfree = (layer.id() for layer in layers)
    scratch = Path(tempfile.mkdtemp())
    cases = {
        "glfcr:removeclouds": {
            "CLOUDY": cloudy, "SAR": sar, "WEIGHTS": str(CHECKPOINT), "OUTPUT": str(scratch / "o.tif"),
        },
        "glfcr:cloudmask": {"INPUT": cloudy, "OUTPUT": str(scratch / "m.tif")},
        "glfcr:evaluate": {
            "PREDICTION": cloudy, "REFERENCE": cloudfree,
            "REPORT_JSON": str(scratch / "r.json"), "REPORT_HTML": str(scratch / "r.html"),
        },
    }
    print("| algorithm | create (ms) | checkParameterValues (ms) | total (ms) |")
    print("|---|---|---|---|")
    registry = QgsApplication.processingRegistry()
    for alg_id, params in cases.items():
        create, check = [], []
        for _ in range(args.repeats):
            begin = time.perf_counter()
            algorithm = registry.createAlgorithmById(alg_id)
            middle = time.perf_counter()
            context = QgsProcessingContext()
            context.setProject(project)
            ok, message = algorithm.checkParameterValues(params, context)
            end = time.perf_counter()
            assert ok, message
            create.append(middle - begin)
            check.append(end - middle)
        a, b = statistics.median(create) * 1e3, statistics.median(check) * 1e3
        print(f"| {alg_id} | {a:.1f} | {b:.1f} | {a + b:.1f} |")
    print("\n| worker starts with | torch + checkpoint (s) | longest wait for the GIL (ms) |")
    print("|---|---|---|")
    stalls: dict[str, list[tuple[float, float]]] = {"import": [], "require_torch": []}
    for _ in range(args.probes):
        for mode, found in stalls.items():
            probe = _STALL_PROBE.format(repo=str(REPO_ROOT), checkpoint=str(CHECKPOINT), mode=mode)
            command = [sys.executable, "-c", probe]
            completed = subprocess.run(command, capture_output=True, text=True, check=True)
            total, longest = (float(word) for word in completed.stdout.split())
            found.append((total, longest))
    for mode, found in stalls.items():
        totals = ", ".join(f"{total:.1f}" for total, _ in found)
        longest = ", ".join(f"{wait * 1e3:.0f}" for _, wait in found)
        print(f"| `{mode}` | {totals} | {longest} |")


if __name__ == "__main__":
    main()
