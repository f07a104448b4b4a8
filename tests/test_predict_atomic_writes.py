"""`depth-anything predict` writes every output atomically: each file appears by renaming a complete
temporary file in the same folder, and a write that fails before that rename leaves the previous
file untouched (a plain writer, which leaves no temporaries either, fails both tests)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import build_model
from depth_anything.cli.__main__ import main
from depth_anything.weights import save_checkpoint

OUTPUTS = {"color": "a_depth.png", "side": "a_side.png", "png16": "a_depth16.png", "npy": "a.npy"}


@pytest.fixture
def setup(tmp_path):
    checkpoint = save_checkpoint(randomize_(build_model(tiny_config()), seed=31), tmp_path / "tiny.pt")
    photo = tmp_path / "photos" / "a.png"
    photo.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 44, 3), dtype=np.uint8)).save(photo)
    return checkpoint, photo, tmp_path / "out"


def _predict(checkpoint: Path, photo: Path, out: Path, formats: str) -> int:
    return main(["predict", str(photo), "--model", str(checkpoint), "--out", str(out), "--formats", formats,
                 "--input-size", "28", "--device", "cpu"])


def test_every_output_appears_by_renaming_a_complete_temporary_file(setup, monkeypatch):
    checkpoint, photo, out = setup
    renames: list[tuple[Path, Path, bytes]] = []
    real_replace, real_rename = os.replace, os.rename

    def recording(real):
        def move(src, dst, *args, **kwargs):
            src_path, dst_path = Path(src), Path(dst)
            renames.append((src_path, dst_path, src_path.read_bytes()))
            return real(src, dst, *args, **kwargs)
        return move

    monkeypatch.setattr(os, "replace", recording(real_replace))
    monkeypatch.setattr(os, "rename", recording(real_rename))
    assert _predict(checkpoint, photo, out, ",".join(OUTPUTS)) == 0
    produced = {dst.resolve(): (src, data) for src, dst, data in renames}
    written = [*OUTPUTS.values(), "a.npy.json"]  # the .npy's record lives beside it (metadata.sidecar_path)
    for name in written:
        final = (out / name).resolve()
        assert final.is_file(), name
        assert final in produced, f"{name} was written in place, not renamed from a complete temporary file"
        src, data = produced[final]
        assert src.parent.resolve() == final.parent and src.name != final.name  # same folder: atomic rename
        assert data == final.read_bytes() and len(data) > 0  # the temporary was complete when renamed
    assert sorted(p.name for p in out.iterdir()) == sorted(written)  # no temporaries left


@pytest.mark.parametrize("fmt", sorted(OUTPUTS))
def test_a_write_that_fails_before_the_rename_keeps_the_previous_file(setup, monkeypatch, fmt):
    checkpoint, photo, out = setup
    out.mkdir()
    final = out / OUTPUTS[fmt]
    final.write_bytes(b"previous content")

    def crash(src, dst, *args, **kwargs):  # the machine dies after the bytes were written, before the commit
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(OSError, match="No space left"):
        _predict(checkpoint, photo, out, fmt)
    assert final.read_bytes() == b"previous content", f"{final.name} was overwritten in place"
    assert sorted(p.name for p in out.iterdir()) == [final.name]  # the failed temporary was removed


def test_a_writer_that_dies_midway_leaves_no_partial_output(setup, monkeypatch):
    """The encoder of the pictures writes half its bytes and raises: no `a_depth.png` appears."""
    checkpoint, photo, out = setup
    import depth_anything.outputs as outputs_module

    real = outputs_module.atomic_write

    def half_then_fail(path, write, durable=True):
        def partial(tmp):
            write(tmp)
            data = Path(tmp).read_bytes()
            Path(tmp).write_bytes(data[: len(data) // 2])
            raise OSError(5, "Input/output error")
        return real(path, partial, durable)

    monkeypatch.setattr(outputs_module, "atomic_write", half_then_fail)
    with pytest.raises(OSError, match="Input/output error"):
        _predict(checkpoint, photo, out, "npy")
    assert not (out / "a.npy").exists()
    assert not out.exists() or list(out.iterdir()) == []
