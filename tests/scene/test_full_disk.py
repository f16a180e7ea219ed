"""Remove Clouds and Cloud Mask on a full disk: one sentence, no file left, inputs untouched (Python API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from disk_limits import TightDisk, checksums
from scene_rasters import write_raster, write_scene
from test_remove_clouds import PointwiseStandIn

from glfcr_qgis.core.errors import OutputWriteError
from glfcr_qgis.core.scene.cloud_masking import cloud_mask
from glfcr_qgis.core.scene.pipeline import remove_clouds


@pytest.mark.parametrize("cog", [False, True])
def test_remove_clouds_on_a_full_disk_fails_and_leaves_nothing(
    tmp_path: Path, tight_disk: TightDisk, cog: bool
) -> None:
    optical, sar = write_scene(tmp_path, 64, 64)
    before = checksums(optical, sar)
    output = tight_disk.folder / "clear.tif"
    with tight_disk.full(), pytest.raises(OutputWriteError) as error:
        remove_clouds(optical, sar, PointwiseStandIn(), output, tile_size=32, overlap=8, cog=cog)
    assert str(error.value) == f"Cannot write the output {output}: {tight_disk.reason}."
    assert tight_disk.files() == [] and checksums(optical, sar) == before


def test_cloud_mask_on_a_full_disk_fails_and_leaves_neither_raster(
    tmp_path: Path, tight_disk: TightDisk
) -> None:
    rng = np.random.default_rng(3)
    source = write_raster(tmp_path / "l1c.tif", rng.integers(0, 10000, (13, 64, 64)).astype(np.uint16))
    before = checksums(source)
    mask, score = tight_disk.folder / "mask.tif", tight_disk.folder / "score.tif"
    with tight_disk.full(), pytest.raises(OutputWriteError) as error:
        cloud_mask(source, mask, score_path=score)
    assert str(error.value) == f"Cannot write the outputs {mask} and {score}: {tight_disk.reason}."
    assert tight_disk.files() == [] and checksums(source) == before
