"""The demo's page and command without a browser: the event function, the page's notices, `depth-anything app`."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import Predictor, build_model
from depth_anything.cli.__main__ import main
from depth_anything.weights import save_checkpoint

gr = pytest.importorskip("gradio", reason="the web demo needs gradio: pip install -e '.[app]'")

from depth_anything.app import ModelChooser, build_demo, model_sources  # noqa: E402
from depth_anything.app import demo as demo_module  # noqa: E402
from depth_anything.app.processing import OutputFolder  # noqa: E402


@pytest.fixture(scope="module")
def predictor():
    return Predictor(randomize_(build_model(tiny_config()), seed=3), input_size=28)


def test_handler_turns_an_upload_into_a_slider_pair_and_two_files(tmp_path, predictor):
    rgb = np.random.default_rng(0).integers(0, 256, (20, 36, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "desk.jpg", quality=100)
    handler = demo_module.DepthHandler(ModelChooser.from_predictors({"tiny": predictor}), OutputFolder(tmp_path / "out"))
    (before, after), depth16, colored, status, mesh, mesh_file, note = handler(str(tmp_path / "desk.jpg"), "tiny", "magma")
    assert mesh is None and mesh_file is None and "metric models only" in note  # a relative model: no 3-D view
    assert before.shape == after.shape == (20, 36, 3) and not np.array_equal(before, after)
    assert depth16.endswith("desk_depth16.png") and colored.endswith("desk_depth.png")
    with Image.open(depth16) as picture:
        assert picture.mode.startswith("I") and picture.size == (36, 20)
    with Image.open(colored) as picture:
        assert picture.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(picture), after)
    assert status.startswith("desk.jpg: 36×20, model `tiny`")
    assert handler(None, "tiny", "magma") == (None, None, None, "", None, None, "")  # a cleared input clears them all


def test_handler_answers_a_broken_file_an_unknown_colour_map_and_a_missing_model_with_messages(tmp_path, predictor):
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    handler = demo_module.DepthHandler(ModelChooser.from_predictors({"tiny": predictor}), OutputFolder(tmp_path / "out"))
    with warnings.catch_warnings(record=True) as shown:  # outside a request gr.Warning is a Python warning
        warnings.simplefilter("always")
        broken = handler(str(tmp_path / "photo.png"), "tiny", "Spectral_r")
        cmap = handler(str(tmp_path / "ok.png"), "tiny", "no-such-map")
        model = handler(str(tmp_path / "ok.png"), "vitz", "Spectral_r")
        nothing = handler(str(tmp_path / "ok.png"), None, "Spectral_r")
    assert broken[:3] == cmap[:3] == model[:3] == nothing[:3] == (None, None, None)
    assert broken[3].startswith("⚠️ photo.png: not a readable image")
    assert "unknown colour map 'no-such-map'" in cmap[3]
    assert "unknown model 'vitz'" in model[3]
    assert "No model is available" in nothing[3]
    assert len(shown) == 4 and "photo.png: not a readable image" in str(shown[0].message)


@pytest.fixture
def no_builtin_models(tmp_path, monkeypatch):
    """As while the default model is still being trained: its files are not there."""
    monkeypatch.setattr("depth_anything.weights.registry.BUILTIN_DIR", tmp_path / "no_builtin_weights")


def _page_texts(demo: gr.Blocks) -> str:
    return "\n".join(str(c.get("props", {}).get("value")) for c in demo.config["components"])


def test_page_without_a_working_model_says_so_instead_of_failing(tmp_path, no_builtin_models):
    chooser = ModelChooser(model_sources(str(tmp_path / "missing.pt")))
    demo = build_demo(chooser, examples=[])
    texts = _page_texts(demo)
    assert "No model could be opened" in texts and "missing.pt" in texts
    assert "--model vitl" in texts  # the page says how to use the official weights
    assert demo.analytics_enabled is False


def test_page_lists_the_built_in_models_and_the_one_given_first_selected(tmp_path):
    checkpoint = save_checkpoint(randomize_(build_model(tiny_config()), seed=2), tmp_path / "mine.pt")
    chooser = ModelChooser(model_sources(str(checkpoint)), input_size=28)
    demo = build_demo(chooser, initial_model=str(checkpoint), examples=[])
    dropdown = next(c["props"] for c in demo.config["components"] if c["props"].get("elem_id") == "model")
    assert [choice[0] for choice in dropdown["choices"]] == ["default", "default-metric", str(checkpoint)]
    assert dropdown["value"] == str(checkpoint)
    assert not chooser.is_loaded("default")  # the others open when chosen


def test_examples_are_the_repo_picture_and_shipped_photos_not_evaluation_data():
    names = [path.name for path in demo_module.default_examples()]
    assert {"example.png", "astronaut.png", "coffee.png", "chelsea.png"} <= set(names)
    assert not any(name.startswith("motorcycle") for name in names)


def test_cli_binds_to_loopback_and_starts_on_the_given_model(tmp_path, monkeypatch, capsys, no_builtin_models):
    checkpoint = save_checkpoint(randomize_(build_model(tiny_config()), seed=2), tmp_path / "mine.pt")
    launched = {}

    def fake_launch(demo, host, port, **options):
        dropdown = next(c["props"] for c in demo.config["components"] if c["props"].get("elem_id") == "model")
        launched.update(host=host, port=port, selected=dropdown.get("value"), texts=_page_texts(demo), **options)
        return f"http://{host}:{port}/"

    monkeypatch.setattr(demo_module, "launch_demo", fake_launch)
    assert main(["app", "--model", str(checkpoint), "--device", "cpu", "--input-size", "28"]) == 0
    assert launched["host"] == "127.0.0.1" and launched["port"] == 7860
    assert launched["selected"] == str(checkpoint)
    assert "serving on http://127.0.0.1:7860/" in capsys.readouterr().err

    assert main(["app", "--model", str(tmp_path / "absent.pt"), "--port", "9001"]) == 0  # no crash, a message
    err = capsys.readouterr().err
    assert "no model could be opened" in err and "absent.pt" in err
    assert launched["selected"] is None and "No model could be opened" in launched["texts"]


def test_help_shows_examples():
    result = subprocess.run([sys.executable, "-m", "depth_anything.cli", "app", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "depth-anything app --model vitl" in result.stdout and "--host" in result.stdout


def test_missing_gradio_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['gradio'] = None\n"
        "from depth_anything.cli.__main__ import main\n"
        "sys.exit(main(['app']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2
    assert "pip install depth-anything[app]" in result.stderr and "Traceback" not in result.stderr
