"""Checkpoints load in every layout the authors' and common tools write, strictly and safely."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from authors_glfcr import RDN_residual_CR
from network_fixtures import REFERENCE_CHECKPOINT, reference_io, reference_model, reference_state_dict

from glfcr_qgis.core import GLFCR, CheckpointError, DeviceError, load_model, save_checkpoint


def _same_weights(model: GLFCR, state: dict[str, torch.Tensor]) -> bool:
    ours = model.state_dict()
    return all(torch.equal(ours[key], value) for key, value in state.items())


def _save(tmp_path: Path, obj: object, name: str = "ckpt.pth") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def test_authors_format_loads_in_eval_mode() -> None:
    model = load_model(REFERENCE_CHECKPOINT)
    assert not model.training
    assert next(model.parameters()).device.type == "cpu"
    assert _same_weights(model, reference_state_dict())


@pytest.mark.parametrize("layout", ["plain", "dataparallel", "state_dict_wrapper", "no_derived_buffers"])
def test_other_layouts_load(tmp_path: Path, layout: str) -> None:
    state = dict(reference_state_dict())
    if layout == "plain":
        obj: object = state
    elif layout == "dataparallel":
        obj = {"network": {f"module.{k}": v for k, v in state.items()}}
    elif layout == "state_dict_wrapper":
        obj = {"state_dict": state, "epoch": 7}
    else:  # a state_dict from code that keeps masks and indices non-persistent
        obj = {k: v for k, v in state.items() if not k.endswith(("attn_mask", "relative_position_index"))}
    model = load_model(_save(tmp_path, obj))
    assert _same_weights(model, {k: v for k, v in state.items() if not k.endswith("attn_mask")})


def test_masks_for_another_tile_size_are_accepted(tmp_path: Path) -> None:
    # a checkpoint trained at 256 x 256 carries (256, 64, 64) masks: not learned, so not an error
    state = dict(reference_state_dict())
    for key in [k for k in state if k.endswith("attn_mask")]:
        state[key] = torch.zeros(256, 64, 64)
    load_model(_save(tmp_path, {"network": state}))


def test_missing_unexpected_and_misshaped_keys_are_listed(tmp_path: Path) -> None:
    state = dict(reference_state_dict())
    del state["UPNet.2.bias"]
    state["extra.weight"] = torch.zeros(3)
    state["SFENet1.bias"] = torch.zeros(95)
    with pytest.raises(CheckpointError) as error:
        load_model(_save(tmp_path, {"network": state}))
    message = str(error.value)
    assert "1 missing: UPNet.2.bias" in message
    assert "1 unexpected: extra.weight" in message
    assert "SFENet1.bias (95,) (expected (96,))" in message


def test_foreign_checkpoint_is_named_as_such(tmp_path: Path) -> None:
    foreign = torch.nn.Sequential(torch.nn.Conv2d(15, 13, 3)).state_dict()
    with pytest.raises(CheckpointError, match="is not a GLF-CR checkpoint"):
        load_model(_save(tmp_path, {"network": foreign}))


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    path.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_model(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="state_dict of tensors"):
        load_model(_save(tmp_path, {"network": {"a": 1}}, "numbers.pth"))


class _Payload:
    def __reduce__(self):  # what a malicious checkpoint would run on load
        return (Path("/tmp/glfcr_pwned").touch, ())


def test_pickled_code_is_never_executed(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"network": _Payload()}, path)
    Path("/tmp/glfcr_pwned").unlink(missing_ok=True)
    with pytest.raises(CheckpointError, match="not loaded for safety"):
        load_model(path)
    assert not Path("/tmp/glfcr_pwned").exists()


def test_unknown_device_is_a_clear_error() -> None:
    with pytest.raises(DeviceError):
        load_model(REFERENCE_CHECKPOINT, device="tpu")


def test_save_checkpoint_loads_strictly_into_the_authors_network(tmp_path: Path) -> None:
    model = reference_model()
    path = tmp_path / "saved.pth"
    save_checkpoint(model, path, epoch=3, notes="test")
    saved = torch.load(path, weights_only=True)
    assert saved["epoch"] == 3 and saved["notes"] == "test"
    authors = RDN_residual_CR(128)
    authors.load_state_dict(saved["network"], strict=True)
    authors.eval()
    io = reference_io()
    with torch.inference_mode():
        assert (authors(io["cloudy"], io["sar"]) - io["output"]).abs().max().item() <= 1e-4
    assert list(saved["network"]) == list(reference_state_dict())
    assert not list(tmp_path.glob(".saved.pth.*"))
    # and back into ours
    assert _same_weights(load_model(path), reference_state_dict())
