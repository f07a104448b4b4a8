"""Start-up cost of the command line: a command imports only its own code, and loading weights does
not first draw random ones."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import torch
from PIL import Image

from depth_anything.weights import load_model


def test_predict_imports_only_what_it_runs(tmp_path):
    photo = tmp_path / "one.png"
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(photo)
    script = (
        "import sys\n"
        "from depth_anything.cli.__main__ import main\n"
        f"code = main(['predict', {str(photo)!r}, '--outdir', {str(tmp_path / 'out')!r}, '--random-weights', 'vitc',"
        " '--input-size', '32'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[:2] in (['depth_anything', 'train'], ['depth_anything', 'eval'],"
        " ['depth_anything', 'export'], ['depth_anything', 'app']) or m in ('gradio', 'transformers', 'onnx', 'openvino'))\n"
        "print('HEAVY', heavy, code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "HEAVY [] 0" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "out" / "one_side.png").is_file()


def test_help_still_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "depth_anything.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("predict", "train", "eval", "export", "video", "app"):
        assert command in done.stdout


def test_loading_weights_skips_the_random_initialisation(monkeypatch):
    calls = []
    real = torch.nn.init.trunc_normal_
    monkeypatch.setattr(torch.nn.init, "trunc_normal_", lambda tensor, *a, **k: calls.append(1) or real(tensor, *a, **k))
    model = load_model()  # the built-in default model
    assert calls == []
    reference = load_model()
    for (name, value), (_, other) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(value, other), name  # loaded, not drawn
