"""Both engines of shard labelling, for real: torchrun with 2 processes and a local Ray cluster write
the same label shards, byte for byte, as one plain process; a killed torchrun job resumes with each
sample exactly once."""

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


@pytest.mark.parametrize("writes", ["driver", "workers"])
def test_ray_actor_pool_writes_the_same_labels(
    labelled: tuple[Path, Path], capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, writes: str
) -> None:
    """Both ways of writing on Ray give the plain process's label shards: the driver collecting labelled
    chunks, or each actor labelling whole shards and writing them (the driver only appends index lines:
    here it cannot write a shard at all)."""
    ray = pytest.importorskip("ray")
    from depth_anything.cli.__main__ import main
    from depth_anything.train import label_shards

    if writes == "workers":  # the actors are other processes: only the driver's writer is taken away
        monkeypatch.setattr(label_shards, "write_shard", lambda *args: pytest.fail("the driver wrote a shard"))

    root, single = labelled
    out = root / f"ray-{writes}"
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    names = [str(root / "in" / f"data-{i:03d}.tar") for i in range(4)] + [str(root / "in" / "gone.tar")]
    try:  # the command joins the running local cluster; two teacher actors, reading beside them
        code = main(["label", "--data", "{" + ",".join(names) + "}", "--outdir", str(out), "--engine", "ray",
                     "--ray-actors", "2", "--ray-writes", writes, "--input-size", "28", "--batch-size", "2",
                     "--device", "cpu", "--no-progress"])
    finally:
        ray.shutdown()
    printed = capsys.readouterr()
    assert code == 1 and "labeled 12 images in 4 shards" in printed.out, printed  # 1: a shard is left for a rerun
    assert "1 shards unreadable" in printed.out and "gone.tar: cannot open" in printed.err
    assert _shard_bytes(out) == _shard_bytes(single)
    assert (out / "teacher.json").read_text() == (single / "teacher.json").read_text()
    ours, theirs = read_index(out), read_index(single)
    assert {n: e.sha256 for n, e in ours.items()} == {n: e.sha256 for n, e in theirs.items()}
    assert len((out / "index.jsonl").read_text().splitlines()) == 4  # each finished shard listed once


def test_a_killed_torchrun_job_resumes_with_each_sample_exactly_once(
    labelled: tuple[Path, Path], tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    root, _ = labelled
    out = tmp_path / "out"
    pattern = str(root / "in" / "data-{000..003}.tar")
    script = tmp_path / "job.py"  # with "die", rank 0 kills itself once its first shard is committed
    script.write_text(
        "import os, signal, sys\n"
        "from depth_anything.train.label_shards import label_shards\n"
        "def die(done, total):\n"
        "    if sys.argv[1:] == ['die'] and done == 1 and os.environ['RANK'] == '0':\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"result = label_shards('default', {pattern!r}, {str(out)!r}, progress=die, input_size=28, batch_size=2, "
        "device='cpu')\n"
        "print('skipped', result.shards_skipped, 'done', result.shards_done)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}

    def torchrun(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                               str(script), *args], env=env, capture_output=True, text=True, timeout=300)

    killed = torchrun("die")
    assert killed.returncode != 0  # rank 0 died of SIGKILL; torchrun stopped rank 1
    finished = read_index(out)
    assert 1 <= len(finished) < 4  # rank 0's first shard at least; not everything
    resumed = torchrun()
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"skipped {len(finished)} done {4 - len(finished)}" in resumed.stdout
    keys = [k for name in sorted(read_index(out)) for k in shard_keys(out / name)]
    assert sorted(keys) == sorted(f"s{s}/{i:03d}" for s in range(4) for i in range(3))  # each exactly once
    assert len((out / "index.jsonl").read_text().splitlines()) == 4
