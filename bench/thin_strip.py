"""(d) ``remove_clouds`` on thin strips: what the network costs when the scene is thinner than a tile.

    .venv/bin/python bench/thin_strip.py [--shapes 1x600 20x5000] [--tile 384] [--overlap 32] [--repeats 2]

For each scene shape: the tile shape the grid chose, the pixels the network processes per scene pixel,
and the median CPU seconds of a whole run (random weights, CPU, one torch thread so that the number
is the work done, not how it spread over cores).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from common import machine, print_table, random_checkpoint
from synthetic_scene import write_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["1x600", "20x5000"], help="HEIGHTxWIDTH scenes")
    parser.add_argument("--tile", type=int, default=384)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    from glfcr_qgis.core.model.inference import prepare_model
    from glfcr_qgis.core.scene.pipeline import remove_clouds

    torch.set_num_threads(1)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        model = prepare_model(random_checkpoint(folder), "cpu")
        for shape in args.shapes:
            height, width = (int(side) for side in shape.split("x"))
            optical, sar = write_scene(folder / shape, height, width)
            seconds = []
            for _ in range(args.repeats):
                start = time.process_time()
                result = remove_clouds(
                    optical, sar, model, folder / "out.tif", tile_size=args.tile, overlap=args.overlap,
                    device="cpu",
                )  # fmt: skip
                seconds.append(time.process_time() - start)
            # runs against older checkouts too, whose tiles were always square
            tile = "x".join(map(str, getattr(result, "tile_shape", [result.tile_size])))
            cost, median = f"{result.overlap_cost:.1f}", f"{statistics.median(seconds):.2f}"
            rows.append([shape, tile, result.tiles, cost, median])
    print(machine())
    print_table(["scene", "tile", "tiles", "network px / scene px", "CPU s (median)"], rows)


if __name__ == "__main__":
    main()
