"""The loop behind `predict` and `pointcloud`: writing overlaps the network, failures surface, the
progress bar and the summary report images per second."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import build_model
from depth_anything.cli.batch import BatchRun
from depth_anything.inference import Predictor, TorchRuntime


class SignallingRuntime(TorchRuntime):
    """A torch runtime that records each batch it runs and signals once it has run `after` batches."""

    def __init__(self, model, after: int) -> None:
        super().__init__(model)
        self.calls = 0
        self.after = after
        self.reached = threading.Event()

    def run(self, batch: np.ndarray) -> torch.Tensor:
        self.calls += 1
        if self.calls > self.after:
            self.reached.set()
        return super().run(batch)


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def _predictor(after: int) -> Predictor:
    model = randomize_(build_model(tiny_config()), seed=3).eval()
    # batch 1 and read-ahead windows of 8 batches: 6 images are one window, so the network runs all of
    # them before the first result is written; a second window needs a 7th image
    return Predictor(SignallingRuntime(model, after), input_size=28, batch_size=1)


def test_writes_run_beside_the_network(tmp_path, photos):
    """The first image's write waits until the network has moved on to a later window: with writing in
    the main loop the network could never get there, and the wait would time out."""
    for i in range(6, 12):
        Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(photos / f"{i}.png")
    predictor = _predictor(after=8)  # the 9th batch is in the second window
    run = BatchRun.collect([str(photos)], tmp_path / "out")
    seen: list[tuple[str, bool, str]] = []

    def write(image, result) -> None:
        overlapped = predictor.runtime.reached.wait(timeout=10) if not seen else True
        seen.append((image.name, overlapped, threading.current_thread().name))

    assert run.process(predictor, write) == 0
    assert run.written == 12 and len(seen) == 12
    assert seen[0][1], "the first write never saw the network run the next window"
    assert all(name.startswith("depth-anything-writer") for _, _, name in seen)


def test_a_failed_write_stops_the_run_with_its_error(tmp_path, photos):
    run = BatchRun.collect([str(photos)], tmp_path / "out")

    def write(image, result) -> None:
        if image.name == "3":
            raise OSError(f"disk full while writing {image.name}")

    with pytest.raises(OSError, match="disk full while writing 3"):
        run.process(_predictor(after=99), write)


def test_progress_and_summary_report_images_per_second(tmp_path, photos, capsys):
    (photos / "broken.png").write_bytes(b"not an image")
    run = BatchRun.collect([str(photos)], tmp_path / "out")
    assert run.process(_predictor(after=99), lambda image, result: None) == 1  # one bad file
    captured = capsys.readouterr()
    assert "images/s]" in captured.err  # the bar's own rate, whatever the speed (tqdm alone turns to s/image)
    assert "6 image(s) written" in captured.out and "images/s)" in captured.out
    assert "broken.png" in captured.err
