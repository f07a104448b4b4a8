"""A failed rank-0 write (checkpoint, config, model, manifest) stops every rank together, with its message."""

from __future__ import annotations

from pathlib import Path

from train_helpers import launch_two_nodes, make_config, write_config


def test_failed_rank0_checkpoint_write_stops_both_ranks_with_its_message(tmp_path: Path, synth_root: Path) -> None:
    """Two launchers of one process each (as on two nodes), so neither torchrun agent ends the other
    rank for us: rank 1 must learn of rank 0's failure through the job itself, not wait in a barrier."""
    out = tmp_path / "run"
    # a folder where step 4's checkpoint must go: the write fails even for root (unlike a read-only folder)
    (out / "checkpoints" / "step_0000004.pt").mkdir(parents=True)
    config = write_config(tmp_path / "fail.yaml", make_config(
        out, train=[{"layout": "synthetic", "root": str(synth_root), "split": "train"}],
        optim={"steps": 6, "batch_size": 4}, run={"checkpoint_every": 2}))
    launchers = launch_two_nodes(config, "rank0-fails")
    try:
        outputs = [launcher.communicate(timeout=180) for launcher in launchers]
    finally:
        for launcher in launchers:
            if launcher.poll() is None:
                launcher.kill()
    assert all(launcher.returncode != 0 for launcher in launchers), [err[-2000:] for _, err in outputs]
    errors = "\n".join(err for _, err in outputs)
    assert "IsADirectoryError" in errors, errors[-3000:]
    # the other rank names rank 0's failure instead of waiting for it (or dying of a lost connection)
    assert "rank 1: rank 0 failed to write checkpoint" in errors, errors[-3000:]
    assert errors.count("step_0000004.pt") >= 2
    assert (out / "checkpoints" / "step_0000002.pt").is_file()
    assert not (out / "model.pt").exists()
