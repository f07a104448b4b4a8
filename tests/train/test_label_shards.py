"""Labelling tar shards: label shards written atomically, an index of finished shards, resume by shard,
bad input reported with shard and key while the rest goes on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from shard_helpers import LABEL_ARGS, shard_keys, write_image_shards

import depth_anything
from depth_anything.data.datasets import open_dataset
from depth_anything.data.shards import expand_braces, read_index, write_shard
from depth_anything.errors import ConfigError
from depth_anything.inference.confidence import predict_with_confidence
from depth_anything.io import decode_image_bytes, file_sha256
from depth_anything.train.label_shards import label_shards


@pytest.fixture
def shards(tmp_path: Path) -> list[Path]:
    return write_image_shards(tmp_path / "in")


def test_brace_patterns_expand_in_order_with_zero_padding() -> None:
    assert expand_braces("d/{000..002}.tar") == ["d/000.tar", "d/001.tar", "d/002.tar"]
    assert expand_braces("{a,b}-{8..10}.tar") == [
        "a-8.tar",
        "a-9.tar",
        "a-10.tar",
        "b-8.tar",
        "b-9.tar",
        "b-10.tar",
    ]
    assert expand_braces("s3://bucket/x.tar") == ["s3://bucket/x.tar"]


def test_label_shards_hold_the_predictors_labels_and_quality_and_read_back(
    tmp_path: Path, shards: list[Path]
) -> None:
    out = tmp_path / "labels"
    result = label_shards("default", str(tmp_path / "in" / "data-{000..002}.tar"), out, **LABEL_ARGS)
    assert (result.labeled, result.failed, result.shards_done, result.shards_failed) == (12, 0, 3, 0)
    assert sorted(p.name for p in out.iterdir()) == [
        "index.jsonl",
        "labels-000000.tar",
        "labels-000001.tar",
        "labels-000002.tar",
        "teacher.json",
    ]
    index = read_index(out)
    assert [index[n].count for n in sorted(index)] == [4, 4, 4]
    for name, entry in index.items():
        assert entry.sha256 == file_sha256(out / name)
        assert entry.source == str(tmp_path / "in" / f"data-{name[-7:-4].lstrip('0').zfill(3)}.tar")
    assert shard_keys(out / "labels-000001.tar") == [f"s1/{i:03d}" for i in range(4)]

    predictor = depth_anything.Predictor(
        depth_anything.load_model("default", device="cpu"), "cpu", input_size=28
    )
    with tarfile.open(shards[1]) as archive:
        rgb = decode_image_bytes(archive.extractfile("s1/002.png").read(), "s1/002")
    expected = predict_with_confidence(predictor, rgb)
    reader = open_dataset("pseudo", out)
    assert len(reader) == 12 and reader.shard_counts == [4, 4, 4]
    sample = reader[6]  # shard 1, key s1/002
    assert sample.name == "s1/002" and sample.depth_kind == "disparity"
    np.testing.assert_array_equal(sample.image, rgb)
    np.testing.assert_allclose(sample.depth, expected.depth / expected.depth.max(), atol=1e-3)
    with tarfile.open(out / "labels-000001.tar") as archive:
        meta = json.loads(archive.extractfile("s1/002.json").read())
    assert meta["quality"] == pytest.approx(expected.score, abs=1e-6) and 0 < meta["quality"] <= 1
    assert index["labels-000001.tar"].quality[2] == pytest.approx(
        expected.score, abs=1e-3
    )  # float16 in the index
    assert result.quality.shape == (12,) and np.isfinite(result.quality).all()


def test_file_urls_are_read_through_fsspec(tmp_path: Path, shards: list[Path]) -> None:
    result = label_shards(
        "default", f"file://{tmp_path}/in/data-{{000..001}}.tar", tmp_path / "out", **LABEL_ARGS
    )
    assert (result.labeled, result.shards_done) == (8, 2)
    assert read_index(tmp_path / "out")["labels-000000.tar"].source == f"file://{tmp_path}/in/data-000.tar"


def test_bad_input_is_reported_with_shard_and_key_and_the_rest_goes_on(
    tmp_path: Path, shards: list[Path]
) -> None:
    # shard 1 is cut short in the middle of its third sample; shard 2 holds an image that does not decode
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) * 2 // 3])
    with tarfile.open(shards[2]) as archive:
        members = [(m.name, archive.extractfile(m).read()) for m in archive.getmembers()]
    fields: dict[str, dict[str, bytes]] = {}
    for name, payload in members:
        key, extension = name.split(".", 1)
        fields.setdefault(key, {})[extension] = (
            b"\x89PNG not an image" if key == "s2/001" and extension == "png" else payload
        )
    write_shard(shards[2], list(fields.items()))
    names = [str(p) for p in shards] + [str(tmp_path / "in" / "gone.tar"), "file:///no/such/bucket/x.tar"]
    out = tmp_path / "out"
    result = label_shards("default", "{" + ",".join(names) + "}", out, **LABEL_ARGS)
    assert (result.shards_done, result.shards_failed, result.labeled, result.failed) == (2, 3, 7, 1)
    joined = "\n".join(result.errors)
    assert f"shard {shards[1]}: unreadable at key s1/002, last complete key s1/001" in joined
    assert "data-002.tar s2/001: not a readable image" in joined
    assert "gone.tar" in joined and "file:///no/such/bucket/x.tar" in joined
    index = read_index(out)
    assert sorted(index) == ["labels-000000.tar", "labels-000002.tar"]
    assert index["labels-000002.tar"].count == 3 and index["labels-000002.tar"].failed[0].startswith(
        f"{shards[2].name} s2/001"
    )
    assert shard_keys(out / "labels-000002.tar") == ["s2/000", "s2/002", "s2/003"]
    assert not (out / "labels-000001.tar").exists() and not [p for p in out.iterdir() if ".tmp" in p.name]

    # the truncated shard restored: a rerun labels it and nothing else
    write_image_shards(tmp_path / "fixed", shards=2)
    shutil.copyfile(tmp_path / "fixed" / "data-001.tar", shards[1])
    again = label_shards("default", "{" + ",".join(names) + "}", out, **LABEL_ARGS)
    assert (again.shards_done, again.shards_skipped, again.labeled) == (1, 2, 4)
    assert sorted(read_index(out)) == ["labels-000000.tar", "labels-000001.tar", "labels-000002.tar"]


def test_a_shard_that_vanishes_mid_run_is_reported_and_retried(tmp_path: Path, shards: list[Path]) -> None:
    moved = tmp_path / "elsewhere.tar"

    def vanish(done: int, total: int) -> None:
        if done == 1:  # after the first shard: the last one disappears
            shards[2].rename(moved)

    out = tmp_path / "out"
    result = label_shards(
        "default", str(tmp_path / "in" / "data-{000..002}.tar"), out, progress=vanish, **LABEL_ARGS
    )
    assert (result.shards_done, result.shards_failed) == (2, 1) and "data-002.tar" in result.errors[0]
    assert sorted(read_index(out)) == ["labels-000000.tar", "labels-000001.tar"]
    moved.rename(shards[2])
    again = label_shards("default", str(tmp_path / "in" / "data-{000..002}.tar"), out, **LABEL_ARGS)
    assert (again.shards_done, again.shards_skipped) == (1, 2)


def test_killed_run_resumes_with_each_sample_exactly_once(tmp_path: Path, shards: list[Path]) -> None:
    out = tmp_path / "out"
    pattern = str(tmp_path / "in" / "data-{000..002}.tar")
    code = (  # a hard crash once the first shard is committed
        "import os, signal\n"
        "from depth_anything.train.label_shards import label_shards\n"
        "def die(done, total):\n"
        "    if done == 1: os.kill(os.getpid(), signal.SIGKILL)\n"
        f"label_shards('default', {pattern!r}, {str(out)!r}, progress=die, input_size=28, batch_size=2, "
        "device='cpu')\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    killed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert sorted(read_index(out)) == ["labels-000000.tar"]
    stamp = (out / "labels-000000.tar").stat().st_mtime_ns
    resumed = label_shards("default", pattern, out, **LABEL_ARGS)
    assert (resumed.shards_skipped, resumed.shards_done, resumed.labeled) == (1, 2, 8)
    assert (out / "labels-000000.tar").stat().st_mtime_ns == stamp  # not redone
    keys = [k for name in sorted(read_index(out)) for k in shard_keys(out / name)]
    assert sorted(keys) == sorted(f"s{s}/{i:03d}" for s in range(3) for i in range(4))  # each exactly once
    lines = (out / "index.jsonl").read_text().splitlines()
    assert len(lines) == 3


def test_an_index_line_cut_short_by_a_crash_is_ignored(tmp_path: Path, shards: list[Path]) -> None:
    out = tmp_path / "out"
    label_shards("default", str(shards[0]), out, **LABEL_ARGS)
    with open(out / "index.jsonl", "a") as index:
        index.write('{"shard":"labels-000001.tar","sou')  # the crash came in the middle of this write
    assert sorted(read_index(out)) == ["labels-000000.tar"]


def test_a_run_after_a_crash_mid_index_line_appends_readable_lines(
    tmp_path: Path, shards: list[Path]
) -> None:
    out = tmp_path / "out"
    label_shards("default", str(shards[0]), out, **LABEL_ARGS)
    with open(out / "index.jsonl", "a") as index:
        index.write('{"shard":"labels-000001.tar","sou')  # the crash came in the middle of this write
    pattern = str(tmp_path / "in" / "data-{000..001}.tar")
    resumed = label_shards("default", pattern, out, **LABEL_ARGS)
    assert (resumed.shards_skipped, resumed.shards_done) == (1, 1)
    assert sorted(read_index(out)) == ["labels-000000.tar", "labels-000001.tar"]


def test_resume_with_other_input_shards_at_a_finished_position_is_refused(
    tmp_path: Path, shards: list[Path]
) -> None:
    out = tmp_path / "out"
    label_shards("default", str(shards[1]), out, **LABEL_ARGS)  # labels-000000.tar from data-001.tar
    before = (out / "index.jsonl").read_text()
    with pytest.raises(
        ConfigError, match=r"labels-000000\.tar was labelled from .*data-001\.tar.*data-000\.tar"
    ):
        label_shards("default", str(tmp_path / "in"), out, **LABEL_ARGS)
    assert (out / "index.jsonl").read_text() == before


def test_rerun_with_another_teacher_setting_is_refused(tmp_path: Path, shards: list[Path]) -> None:
    out = tmp_path / "out"
    label_shards("default", str(shards[0]), out, **LABEL_ARGS)
    before = (out / "index.jsonl").read_text()
    with pytest.raises(ConfigError, match="input_size"):
        label_shards("default", str(shards[0]), out, **{**LABEL_ARGS, "input_size": 42})
    with pytest.raises(ConfigError, match="encoding"):
        label_shards("default", str(shards[0]), out, encoding="png16", **LABEL_ARGS)
    assert (out / "index.jsonl").read_text() == before


def test_min_quality_keeps_the_samples_scoring_at_least_that(tmp_path: Path, shards: list[Path]) -> None:
    out = tmp_path / "out"
    result = label_shards("default", str(tmp_path / "in" / "data-{000..002}.tar"), out, **LABEL_ARGS)
    threshold = float(np.median(result.quality))
    everything = open_dataset("pseudo", out)
    kept = open_dataset("pseudo", out, min_quality=threshold)
    stored = np.concatenate([e.quality for _, e in sorted(read_index(out).items())])
    assert len(kept) == int((stored >= threshold).sum()) and 0 < len(kept) < len(everything)
    assert sum(kept.shard_counts) == len(kept)
    kept_names = {kept[i].name for i in range(len(kept))}
    scores = {everything[i].name: stored[i] for i in range(len(everything))}
    assert kept_names == {name for name, score in scores.items() if score >= threshold}


def test_label_command_reads_shards_and_prints_the_quality_distribution(
    tmp_path: Path, shards: list[Path], capsys: pytest.CaptureFixture
) -> None:
    from depth_anything.cli.__main__ import main

    code = main(
        [
            "label",
            "--data",
            str(tmp_path / "in"),
            "--shards",
            "--outdir",
            str(tmp_path / "out"),
            "--input-size",
            "28",
            "--device",
            "cpu",
            "--no-progress",
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "labeled 12 images in 3 shards" in printed and "quality (flip consistency" in printed
    assert "median" in printed


def test_output_among_the_input_shards_is_refused(tmp_path: Path, shards: list[Path]) -> None:
    with pytest.raises(ConfigError, match="where the input shards are"):
        label_shards("default", tmp_path / "in", tmp_path / "in", **LABEL_ARGS)
    assert not (tmp_path / "in" / "index.jsonl").exists()


def test_a_shard_cut_at_a_member_boundary_is_not_taken_for_complete(
    tmp_path: Path, shards: list[Path]
) -> None:
    """tar itself reads a file cut between two members as a shorter, complete archive."""
    with tarfile.open(shards[0]) as archive:
        cut = next(m.offset for m in archive.getmembers() if m.name.startswith("s0/002"))
    shards[0].write_bytes(shards[0].read_bytes()[:cut])
    with tarfile.open(shards[0]) as archive:
        assert len(archive.getmembers()) == 4  # what tar sees: two whole samples and no error
    result = label_shards("default", str(shards[0]), tmp_path / "out", **LABEL_ARGS)
    assert (result.shards_done, result.shards_failed) == (0, 1)
    assert "ends without tar's end-of-archive marker after key s0/001" in result.errors[0]
    assert read_index(tmp_path / "out") == {}


def test_whole_shards_larger_than_a_tar_record_read_to_their_end(tmp_path: Path) -> None:
    """tarfile reads 10 KiB records and stops at the first zero block of the end marker; when that block
    ends a record, the second is never read, and one zero block is all a whole shard can show."""
    from depth_anything.data.shards import iter_shard

    payload = np.random.default_rng(0).integers(0, 256, 30_000, dtype=np.uint8).tobytes()
    for size in (19_456, 19_000, 27_000):  # 19 456: header + data + first zero block = 2 records exactly
        path = tmp_path / f"big-{size}.tar"
        write_shard(path, [("k0", {"bin": payload[:size]})])
        assert [s.key for s in iter_shard(str(path))] == ["k0"]


def test_a_storage_backend_error_mid_shard_names_the_shard_and_key(tmp_path, monkeypatch):
    """fsspec backends raise their own exception types while reading: reported like a cut tar, not raised."""
    import io

    from depth_anything.data import shards

    shard = tmp_path / "s.tar"
    with tarfile.open(shard, "w") as archive:
        for key in ("a", "b", "c"):
            data = bytes(30000)
            info = tarfile.TarInfo(f"{key}.jpg")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    payload = shard.read_bytes()

    class FlakyStream(io.RawIOBase):  # serves the first 45,000 bytes (into b's data), then the "network" fails
        def __init__(self) -> None:
            self.position = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            if self.position >= 45000:
                raise RuntimeError("connection reset by the storage service")
            chunk = payload[self.position : min(self.position + len(buffer), 45000)]
            buffer[: len(chunk)] = chunk
            self.position += len(chunk)
            return len(chunk)

    monkeypatch.setattr(shards, "open_shard", lambda url: io.BufferedReader(FlakyStream()))
    with pytest.raises(shards.ShardReadError, match=r"shard s3://bucket/s\.tar: unreadable at key b.*last complete key a.*RuntimeError"):
        list(shards.iter_shard("s3://bucket/s.tar"))


def test_a_teacher_file_that_is_not_a_record_is_refused_by_name(tmp_path):
    from depth_anything.data.pseudo import ShardedPseudoReader
    from depth_anything.errors import DatasetError

    (tmp_path / "teacher.json").write_text("[1, 2]")
    (tmp_path / "index.jsonl").write_text("")
    with pytest.raises(DatasetError, match=r"teacher\.json holds no teacher record.*list"):
        ShardedPseudoReader(tmp_path)
