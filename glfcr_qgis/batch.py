"""Command line for Remove Clouds over many scenes on a Dask cluster; needs no QGIS.

    python -m glfcr_qgis.batch JOBS.csv OUTPUT_FOLDER [--scheduler tcp://host:8786] [--weights CR_net.pth]

The checkpoint is ``--weights`` or the file named by the environment variable ``GLFCR_WEIGHTS``. Without
``--scheduler`` a Dask cluster is started on this machine. The first Ctrl-C cancels (running scenes stop
after their current tiles, finished outputs are kept); running the same command again does only the rest.
Exit status: 0 when every scene is done or skipped, 1 when a scene failed or the run could not start,
2 for wrong arguments, 130 when canceled.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from .core.errors import GlfcrError, ProcessingCanceled

# the same variable the QGIS algorithms read (algorithms/weights.py, which needs qgis)
WEIGHTS_ENV = "GLFCR_WEIGHTS"
EXIT_FAILED = 1
EXIT_CANCELED = 130


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line's arguments (``--help`` lists them)."""
    from .core.batch.scheduling import DEFAULT_RETRIES
    from .core.io.sentinel1.scale import SCALES
    from .core.model.inference import PRECISIONS
    from .core.scene.mask_methods import DEFAULT_MASK_METHOD, MASK_METHODS
    from .core.scene.output_writer import OUTPUT_TYPES
    from .core.scene.pipeline import DEFAULT_OVERLAP, DEFAULT_TILE_SIZE

    parser = argparse.ArgumentParser(
        prog="python -m glfcr_qgis.batch",
        description="Remove clouds from every scene of a jobs CSV (columns cloudy, sar, name) with GLF-CR on "
        "a Dask cluster, writing <name>_cloudfree.tif and batch_summary.csv/.json into OUTPUT_FOLDER. "
        "Scenes already done with the same checkpoint and settings are skipped.",
    )
    add = parser.add_argument
    add("jobs", metavar="JOBS.csv", help="CSV with a header row: cloudy, sar[, name]")
    add("output_folder", metavar="OUTPUT_FOLDER", help="folder for the outputs and the summary")
    add("--scheduler", default="", help="address of a running Dask scheduler (default: a cluster here)")
    add("--weights", default=os.environ.get(WEIGHTS_ENV, ""), help=f"checkpoint (default: ${WEIGHTS_ENV})")
    add("--tile-size", type=int, default=DEFAULT_TILE_SIZE, help="tile side, a multiple of 16")
    add("--overlap", type=int, default=DEFAULT_OVERLAP, help="pixels shared by neighbouring tiles")
    add("--batch-size", type=int, default=None, help="tiles per forward pass (default: chosen automatically)")
    add("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add("--output-type", choices=OUTPUT_TYPES, default=OUTPUT_TYPES[0])
    add("--keep-clear", action="store_true", help="keep the input values of clear pixels")
    add("--mask-method", choices=MASK_METHODS, default=DEFAULT_MASK_METHOD, help="cloud mask of --keep-clear")
    add("--sar-scale", choices=SCALES, default=SCALES[0], help="scale of the SAR values (default: read it)")
    add("--cog", action="store_true", help="write Cloud Optimized GeoTIFFs")
    add("--precision", choices=PRECISIONS, default=PRECISIONS[0])
    add("--retries", type=int, default=DEFAULT_RETRIES, help="runs again of a scene whose worker died")
    add("--torch-threads", type=int, default=None, help="torch threads per scene (default: all cores)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    arguments = parse_arguments(argv)
    from .core.batch.scheduling import remove_clouds_many

    with _ctrl_c_cancels() as is_canceled:
        try:
            result = remove_clouds_many(
                arguments.jobs,
                arguments.output_folder,
                weights=arguments.weights,
                scheduler_address=arguments.scheduler or None,
                retries=arguments.retries,
                tile_size=arguments.tile_size,
                overlap=arguments.overlap,
                batch_size=arguments.batch_size or None,  # 0: automatic
                device=arguments.device,
                output_type=arguments.output_type,
                keep_clear=arguments.keep_clear,
                mask_method=arguments.mask_method,
                sar_scale=arguments.sar_scale,
                cog=arguments.cog,
                precision=arguments.precision,
                torch_threads=arguments.torch_threads,
                progress=_progress_printer(),
                is_canceled=is_canceled,
                log=_say,
            )
        except ProcessingCanceled as err:
            _say(str(err))
            return EXIT_CANCELED
        except GlfcrError as err:
            _say(str(err))
            return EXIT_FAILED
    counts = result.counts
    for outcome in result.failed:
        _say(f"Scene {outcome.scene} failed: {outcome.error}")
    print(
        f"{counts['done']} scenes done, {counts['skipped']} skipped (already done), {counts['failed']} "
        f"failed; summary in {result.summary_csv} and {result.summary_json}."
    )
    return EXIT_FAILED if result.failed else 0


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _progress_printer() -> Callable[[float], None]:
    shown = -1

    def show(fraction: float) -> None:
        nonlocal shown
        percent = int(100 * fraction)
        if percent != shown:
            shown = percent
            _say(f"{percent}% of the scenes finished")

    return show


@contextmanager
def _ctrl_c_cancels() -> Iterator[Callable[[], bool]]:
    """While active, the first Ctrl-C asks the run to cancel; a second one stops at once."""
    canceled = False

    def handle(signum: int, frame: object) -> None:
        nonlocal canceled
        if canceled:
            raise KeyboardInterrupt
        canceled = True
        _say("Canceling: running scenes stop after their current tiles (Ctrl-C again to quit at once).")

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield lambda: canceled
    finally:
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.exit(main())
