"""`depth-anything synth --frames` writes sequences that `depth-anything eval --benchmark video-synthetic` scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from depth_anything.cli.__main__ import main


@pytest.fixture(scope="module")
def sequences(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sequences")
    assert main(["synth", "--out", str(root), "--count", "2", "--frames", "3", "--size", "32x24", "--seed", "4",
                 "--no-progress"]) == 0
    return root


def test_synth_frames_writes_sequences(sequences: Path) -> None:
    lines = (sequences / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(line)["motion"] for line in lines] == ["pan", "dolly"]
    assert len(list((sequences / "seq00001" / "image").glob("*.png"))) == 3


def test_eval_video_benchmark_reports_tae(sequences: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert main(["eval", "--benchmark", "video-synthetic", "--data", str(sequences), "--split", "all",
                 "--baseline", "row-ramp", "--stabilize", "on", "--out", str(out), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "TAE" in table and "row-ramp + stabiliser" in table
    report = json.loads(out.read_text())
    assert len(report["sequences"]) == 2 and report["means"]["tae"] >= 0.0
    assert {"abs_rel", "d1", "tae"} <= set(report["sequences"][0])


def test_video_benchmark_refuses_image_protocol_flags(sequences: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--benchmark", "video-synthetic", "--data", str(sequences), "--baseline", "constant",
                 "--crop", "none", "--no-progress"]) != 0
    assert "--crop does not apply to the video benchmarks" in capsys.readouterr().err
