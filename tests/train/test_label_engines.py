"""Both engines of shard labelling, for real: torchrun with 2 processes and a local Ray cluster write
the same label shards, byte for byte, as one plain process."""

from __future__ import annotations

from pathlib import Path

import pytest
from shard_helpers import label_subprocess, shard_keys, write_image_shards

from depth_anything.data.shards import read_index


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("labels-*.tar"))}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four input shards of three images, and their labels by one plain process (one thread)."""
    root = tmp_path_factory.mktemp("engines")
    write_image_shards(root / "in", shards=4, per_shard=3)
    single = label_subprocess("--data", str(root / "in" / "data-{000..003}.tar"), "--outdir", str(root / "one"),
                              "--input-size", "28", "--batch-size", "2", "--device", "cpu", "--no-progress")
    assert single.returncode == 0, single.stderr[-3000:]
    return root, root / "one"


def test_torchrun_ranks_take_disjoint_shards_and_write_the_same_labels(labelled: tuple[Path, Path]) -> None:
    root, single = labelled
    ranks = label_subprocess("--data", str(root / "in" / "data-{000..003}.tar"), "--outdir", str(root / "two"),
                             "--input-size", "28", "--batch-size", "2", "--device", "cpu", "--no-progress", nproc=2)
    assert ranks.returncode == 0, ranks.stderr[-3000:]
    assert "labeled 12 images in 4 shards" in ranks.stdout
    lines = (root / "two" / "index.jsonl").read_text().splitlines()
    assert len(lines) == 4  # each shard labelled once, by one rank
    keys = [k for name in sorted(read_index(root / "two")) for k in shard_keys(root / "two" / name)]
    assert len(keys) == len(set(keys)) == 12
    assert _shard_bytes(root / "two") == _shard_bytes(single) and len(_shard_bytes(single)) == 4
    assert read_index(root / "two").keys() == read_index(single).keys()


def test_ray_actor_pool_writes_the_same_labels(labelled: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    ray = pytest.importorskip("ray")
    from depth_anything.cli.__main__ import main

    root, single = labelled
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    names = [str(root / "in" / f"data-{i:03d}.tar") for i in range(4)] + [str(root / "in" / "gone.tar")]
    try:  # the command joins the running local cluster; two teacher actors, reading beside them
        code = main(["label", "--data", "{" + ",".join(names) + "}", "--outdir", str(root / "ray"),
                     "--engine", "ray", "--ray-actors", "2", "--input-size", "28", "--batch-size", "2",
                     "--device", "cpu", "--no-progress"])
    finally:
        ray.shutdown()
    printed = capsys.readouterr()
    assert code == 1 and "labeled 12 images in 4 shards" in printed.out, printed  # 1: a shard is left for a rerun
    assert "1 shards unreadable" in printed.out and "gone.tar: cannot open" in printed.err
    assert _shard_bytes(root / "ray") == _shard_bytes(single)
    assert (root / "ray" / "teacher.json").read_text() == (single / "teacher.json").read_text()
    ours, theirs = read_index(root / "ray"), read_index(single)
    assert {n: e.sha256 for n, e in ours.items()} == {n: e.sha256 for n, e in theirs.items()}
