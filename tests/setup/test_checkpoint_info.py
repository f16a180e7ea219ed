"""What the checkpoint manager shows: size, SHA-256 and the structural check, for good and bad files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from glfcr_qgis.core.setup.checkpoint_info import inspect_checkpoint


def test_the_reference_checkpoint_loads_as_glfcr(shared_dir: Path) -> None:
    path = shared_dir / "reference" / "glfcr_random_ckpt.pth"
    info = inspect_checkpoint(str(path))
    assert info.loads_as_glfcr is True and info.problem is None
    assert info.size == path.stat().st_size
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_foreign_checkpoint_is_named_not_usable(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(10, 512)}, path)
    info = inspect_checkpoint(str(path))
    assert info.loads_as_glfcr is False and info.sha256 and "is not a GLF-CR checkpoint" in info.problem


def test_missing_and_unset_files_are_sentences(tmp_path: Path) -> None:
    assert inspect_checkpoint("").problem == "No checkpoint is chosen."
    missing = inspect_checkpoint(str(tmp_path / "nope.pth"))
    assert missing.loads_as_glfcr is False and missing.problem.endswith("does not exist.")


def test_without_the_check_only_size_and_checksum_are_read(tmp_path: Path) -> None:
    path = tmp_path / "x.pth"
    path.write_bytes(b"not a checkpoint")
    info = inspect_checkpoint(str(path), check=False)
    assert (info.size, info.loads_as_glfcr, info.problem) == (16, None, None)
