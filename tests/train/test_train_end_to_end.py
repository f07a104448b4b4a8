"""The whole recipe in miniature with the shipped mini configs: synthetic data → teacher → pseudo-labels
on real photos → student. Asserts that both stages learn and that every artefact is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

import depth_anything
from depth_anything.cli.__main__ import main
from depth_anything.io import list_images, load_image

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _losses(run: Path, column: str = "loss") -> list[float]:
    with (run / "metrics.csv").open(newline="") as handle:
        return [float(row[column]) if row[column] else float("nan") for row in csv.DictReader(handle)]


def _assert_run_artefacts(run: Path, steps: int) -> None:
    for name in ("model.pt", "metrics.csv", "val.csv", "config.yaml", "checkpoints/latest"):
        assert (run / name).is_file(), name
    assert (run / "checkpoints" / (run / "checkpoints" / "latest").read_text()).is_file()
    assert len(_losses(run)) == steps


@pytest.mark.slow
def test_miniature_recipe(tmp_path: Path, photos: Path) -> None:
    synth, pseudo = tmp_path / "synth", tmp_path / "pseudo"
    teacher, student = tmp_path / "teacher", tmp_path / "student"
    assert main(["synth", "--out", str(synth), "--count", "40", "--size", "64", "--quiet"]) == 0
    assert (synth / "dataset.json").is_file() and (synth / "manifest.jsonl").is_file()

    synthetic = f"{{layout: synthetic, root: '{synth}', split: %s}}"
    common = ["--set", f"data.val=[{synthetic % 'val'}]", "--set", "optim.steps=40",
              "--set", "run.checkpoint_every=20", "--set", "run.val_every=20", "--set", "run.progress=false"]
    assert main(["train", "--config", str(CONFIGS / "mini_teacher.yaml"), *common,
                 "--set", f"data.train=[{synthetic % 'train'}]", "--set", f"run.output_dir='{teacher}'"]) == 0
    _assert_run_artefacts(teacher, 40)

    assert main(["label", "--model", str(teacher / "model.pt"), "--images", str(photos), "--out", str(pseudo),
                 "--input-size", "56", "--no-progress"]) == 0
    manifest = json.loads((pseudo / "manifest.json").read_text())
    assert manifest["count"] == len(list_images(photos)) > 0

    assert main(["train", "--config", str(CONFIGS / "mini_student.yaml"), *common,
                 "--set", f"data.train=[{{layout: pseudo, root: '{pseudo}'}}]",
                 "--set", f"run.output_dir='{student}'"]) == 0
    _assert_run_artefacts(student, 40)

    for run in (teacher, student):
        losses = _losses(run)
        first, last = np.mean(losses[:5]), np.mean(losses[-5:])
        print(f"{run.name}: mean loss of the first 5 steps {first:.3f}, of the last 5 steps {last:.3f}")
        assert all(np.isfinite(losses)) and last < 0.8 * first
    assert not np.all(np.isnan(_losses(student, "feature")))  # feature alignment ran on pseudo-labels

    predictor = depth_anything.Predictor(depth_anything.load_model(student / "model.pt", device="cpu"), "cpu",
                                         input_size=56)
    photo = list_images(photos)[0]
    depth = predictor.predict_one(photo)
    assert depth.shape == load_image(photo).shape[:2] and np.isfinite(depth).all()
