"""`depth-anything predict`: files, folders, lists and globs in; pictures / 16-bit PNGs / npy out under
names that never collide; bad files reported and skipped; one full-size output in memory at a time."""

from __future__ import annotations

import subprocess
import sys
import weakref

import numpy as np
import pytest
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import build_model
from depth_anything.cli.__main__ import main
from depth_anything.inference import Predictor
from depth_anything.io import load_depth_png16, load_image
from depth_anything.outputs import collect_images
from depth_anything.weights import save_checkpoint

FAST = ["--input-size", "28", "--device", "cpu"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_checkpoint(randomize_(build_model(tiny_config()), seed=31), tmp_path_factory.mktemp("w") / "tiny.pt")


@pytest.fixture(scope="module")
def metric_checkpoint(tmp_path_factory):
    model = randomize_(build_model(tiny_config(max_depth=20.0)), seed=5)
    return save_checkpoint(model, tmp_path_factory.mktemp("w") / "tiny_metric.pt")


def _photo(path, shape=(40, 60), seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*shape, 3), dtype=np.uint8)).save(path)
    return path


def _files(root):
    """The output files, without the JSON sidecar that says what each .npy holds (tests/test_metadata.py)."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffixes[-2:] != [".npy", ".json"])


def test_predict_writes_every_format_and_skips_bad_files(tmp_path, checkpoint, capsys):
    photos = tmp_path / "photos"
    _photo(photos / "a.png")
    _photo(photos / "sub" / "b.jpg", (50, 30), seed=1)
    (photos / "broken.png").write_bytes(b"\x89PNG not really")
    out = tmp_path / "out"
    code = main(["predict", str(photos), "--model", str(checkpoint), "--outdir", str(out),
                 "--formats", "color,gray,side,png16,npy", *FAST])
    assert code == 1  # one input failed, the others were written
    captured = capsys.readouterr()
    assert "broken.png" in captured.err and "not a readable image" in captured.err
    assert "2 image(s) written" in captured.out and "1 skipped" in captured.out
    depth = np.load(out / "a.npy")
    assert (out / "a.npy.json").is_file()  # what the .npy holds
    assert depth.shape == (40, 60) and depth.dtype == np.float32
    assert load_image(out / "a_depth.png").shape == (40, 60, 3)
    gray = load_image(out / "a_gray.png")
    assert np.array_equal(gray[..., 0], gray[..., 2]) and gray.max() == 255  # grey, white = nearest
    side = load_image(out / "a_side.png")
    assert side.shape == (40, 60 + 8 + 60, 3)
    np.testing.assert_array_equal(side[:, :60], load_image(photos / "a.png"))
    np.testing.assert_array_equal(side[:, 68:], load_image(out / "a_depth.png"))
    sixteen = load_depth_png16(out / "a_depth16.png", scale=1.0)
    assert sixteen.max() == 65535 and sixteen.min() == 0  # relative maps use the full 16-bit range
    order = np.argsort(depth, axis=None)
    assert np.all(np.diff(sixteen.ravel()[order]) >= 0)  # monotonic in the prediction
    assert np.load(out / "sub" / "b.npy").shape == (50, 30)  # the input tree is mirrored
    assert not list(out.rglob(".*tmp*"))  # atomic writes leave no temporaries


def test_default_is_side_by_side_pred_only_is_the_picture_and_grayscale_is_grey(tmp_path, checkpoint, capsys):
    _photo(tmp_path / "a.png")
    base = ["predict", str(tmp_path / "a.png"), "--model", str(checkpoint), *FAST]
    assert main([*base, "--outdir", str(tmp_path / "default")]) == 0
    assert _files(tmp_path / "default") == ["a_side.png"]
    assert main([*base, "--outdir", str(tmp_path / "pred"), "--pred-only"]) == 0
    assert _files(tmp_path / "pred") == ["a_depth.png"]
    colour = load_image(tmp_path / "pred" / "a_depth.png")
    assert not np.array_equal(colour[..., 0], colour[..., 2])
    assert main([*base, "--outdir", str(tmp_path / "grey"), "--pred-only", "--grayscale"]) == 0
    grey = load_image(tmp_path / "grey" / "a_depth.png")
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    assert main([*base, "--outdir", str(tmp_path / "inferno"), "--pred-only", "--cmap", "inferno"]) == 0
    assert not np.array_equal(load_image(tmp_path / "inferno" / "a_depth.png"), colour)
    assert "images/s" in capsys.readouterr().err  # the progress bar


def test_bad_cmap_and_formats_are_refused_before_any_work(tmp_path, checkpoint, capsys):
    _photo(tmp_path / "a.png")
    with pytest.raises(SystemExit) as stop:
        main(["predict", str(tmp_path / "a.png"), "--model", str(checkpoint), "--cmap", "no-such-map"])
    assert stop.value.code == 2
    assert "unknown colour map 'no-such-map'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:  # refused while parsing, as the colour map is
        main(["predict", str(tmp_path / "a.png"), "--model", str(checkpoint), "--formats", "jpeg"])
    assert stop.value.code == 2
    assert "argument --formats: unknown format(s) ['jpeg']" in capsys.readouterr().err


def test_outputs_inside_the_input_folder_are_not_read_back(tmp_path, checkpoint, capsys):
    _photo(tmp_path / "a.png", (28, 28))
    args = ["predict", str(tmp_path), "--model", str(checkpoint), "--out", str(tmp_path / "depth"), *FAST]
    assert main(args) == 0 and main(args) == 0
    assert "1 image(s) written" in capsys.readouterr().out.splitlines()[-1]
    assert _files(tmp_path / "depth") == ["a_side.png"]


def test_collects_folders_lists_and_globs_with_names_that_never_collide(tmp_path):
    root = tmp_path / "photos"
    for name in ("a.jpg", "a.PNG", "sub/a.jpg", "sub/deep/c.TIFF", "d.WebP", "e.JPEG", "f.bmp"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    (root / "notes.md").write_text("not an image")
    single = collect_images([root])
    # a.PNG sorts first and keeps the plain name
    assert [i.name for i in single.images] == ["a", "a_jpg", "d", "e", "f", "sub/a", "sub/deep/c"]
    assert single.problems == []

    other = tmp_path / "other"
    (other / "a.jpg").parent.mkdir()
    (other / "a.jpg").write_bytes(b"x")
    several = collect_images([root / "sub", other])  # named relative to their common parent
    assert [i.name for i in several.images] == ["photos/sub/a", "photos/sub/deep/c", "other/a"]

    one_by_one = collect_images([root / "a.jpg", root / "sub" / "a.jpg", other / "a.jpg"])
    assert [i.name for i in one_by_one.images] == ["a", "a_jpg", "a_jpg_2"]

    listing = tmp_path / "list.txt"
    listing.write_text("# my shots\nphotos/sub/a.jpg\n\nphotos/e.JPEG\nmissing.png\n")
    listed = collect_images([listing])
    assert [i.path for i in listed.images] == [root / "sub" / "a.jpg", root / "e.JPEG"]
    assert [i.name for i in listed.images] == ["photos/sub/a", "photos/e"]  # relative to the list's folder
    assert listed.problems == [(str(tmp_path / "missing.png"), "file not found")]

    globbed = collect_images([str(root / "**" / "*.jpg"), str(tmp_path / "nothing*.png"), root / "notes.md",
                              root / "a.jpg"])
    assert [i.name for i in globbed.images] == ["a", "sub/a"]  # each file once, mirrored below the glob's folder
    reasons = dict(globbed.problems)
    assert reasons[str(tmp_path / "nothing*.png")] == "no image matches this pattern"
    assert "not an image file name" in reasons[str(root / "notes.md")]


def test_list_files_and_quoted_globs_run_end_to_end(tmp_path, checkpoint, capsys):
    _photo(tmp_path / "in" / "x.png")
    _photo(tmp_path / "in" / "deep" / "y.png", seed=2)
    (tmp_path / "in" / "list.txt").write_text("x.png\ndeep/y.png\n")
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "in" / "list.txt"), "--model", str(checkpoint), "--outdir", str(out),
                 "--formats", "npy", *FAST]) == 0
    assert _files(out) == ["deep/y.npy", "x.npy"]
    assert main(["predict", str(tmp_path / "in" / "**" / "y.png"), "--model", str(checkpoint),
                 "--outdir", str(tmp_path / "g"), "--formats", "npy", *FAST]) == 0
    assert _files(tmp_path / "g") == ["deep/y.npy"]


def test_truncated_and_missing_files_are_reported_and_the_rest_written(tmp_path, checkpoint, capsys):
    good = _photo(tmp_path / "good.png")
    data = good.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "text.jpg").write_text("hello")
    out = tmp_path / "out"
    code = main(["predict", str(tmp_path / "cut.png"), str(good), str(tmp_path / "text.jpg"),
                 str(tmp_path / "gone.png"), "--model", str(checkpoint), "--outdir", str(out), "--formats", "npy", *FAST])
    assert code == 1
    captured = capsys.readouterr()
    assert _files(out) == ["good.npy"]
    summary = captured.err[captured.err.index("skipped (3):"):]
    for name in ("cut.png", "text.jpg", "gone.png"):
        assert name in summary
    assert "file not found" in summary and "not a readable image" in summary
    assert "1 image(s) written" in captured.out and "3 skipped" in captured.out


def test_skip_existing_leaves_finished_images_alone(tmp_path, checkpoint, capsys):
    _photo(tmp_path / "in" / "a.png")
    _photo(tmp_path / "in" / "b.png", seed=3)
    out = tmp_path / "out"
    args = ["predict", str(tmp_path / "in"), "--model", str(checkpoint), "--outdir", str(out),
            "--formats", "color,npy", *FAST]
    assert main(args) == 0
    (out / "b.npy").unlink()  # b is unfinished
    before = (out / "a.npy").stat().st_mtime_ns
    capsys.readouterr()
    assert main([*args, "--skip-existing"]) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert "1 image(s) written" in summary and "1 already existed" in summary
    assert (out / "a.npy").stat().st_mtime_ns == before and (out / "b.npy").is_file()


def test_metric_png16_is_millimetres(tmp_path, metric_checkpoint):
    _photo(tmp_path / "a.png")
    out = tmp_path / "out"
    assert main(["predict", str(tmp_path / "a.png"), "--model", str(metric_checkpoint), "--outdir", str(out),
                 "--formats", "png16,npy", *FAST]) == 0
    metres = np.load(out / "a.npy")
    assert 0 < metres.min() and metres.max() < 20
    np.testing.assert_allclose(load_depth_png16(out / "a_depth16.png", scale=1000.0), metres, atol=0.0005 + 1e-6)


def test_missing_built_in_model_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("depth_anything.weights.registry.BUILTIN_DIR", tmp_path / "no_weights_here")
    _photo(tmp_path / "a.png")
    assert main(["predict", str(tmp_path / "a.png"), "--outdir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "no built-in model in this install" in err and "--model vits" in err and "Traceback" not in err


def test_offline_hub_fails_without_trying_a_download(tmp_path, monkeypatch, capsys):
    import huggingface_hub

    calls = []
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda *a, **k: calls.append(a) or 1 / 0)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("DEPTH_ANYTHING_CACHE", str(tmp_path / "cache"))
    _photo(tmp_path / "a.png")
    assert main(["predict", str(tmp_path / "a.png"), "--model", "vits", "--outdir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert calls == []  # no download was attempted
    assert "depth_anything_v2_vits.pth" in err and str(tmp_path / "cache" / "depth_anything_v2_vits.pth") in err
    assert "HF_HUB_OFFLINE" in err


def test_random_weights_are_labelled_untrained(tmp_path, capsys):
    _photo(tmp_path / "a.png", (28, 28))
    assert main(["predict", str(tmp_path / "a.png"), "--random-weights", "vits", "--outdir", str(tmp_path / "o"),
                 "--input-size", "14", "--device", "cpu", "--formats", "npy"]) == 0
    assert "UNTRAINED" in capsys.readouterr().err
    assert np.load(tmp_path / "o" / "a.npy").shape == (28, 28)


def test_large_images_hold_a_bounded_number_of_full_size_outputs(tmp_path, checkpoint, monkeypatch):
    """Three 2-megapixel photos, with the writer's queue bounded to one photo's pixels: when each is
    written, at most one other image's full-size map exists (the one waiting for the writer)."""
    import depth_anything.cli.batch as batch_module
    import depth_anything.inference.predictor as predictor_module
    import depth_anything.outputs as files

    for i in range(3):
        _photo(tmp_path / "in" / f"{i}.png", (1200, 1600), seed=i)
    resized, written, alive = [], [], []
    real_resize, real_write = predictor_module.resize_depth, files.DepthWriter.write

    def counting_resize(depth, size):
        resized.append(size)
        return real_resize(depth, size)

    def watching_write(self, name, image, depth, picture=None, **camera):
        others_alive = sum(1 for ref in written if ref() is not None) + len(resized) - len(written) - 1
        alive.append(others_alive)
        result = real_write(self, name, image, depth, picture, **camera)
        written.append(weakref.ref(depth))
        return result

    monkeypatch.setattr(predictor_module, "resize_depth", counting_resize)
    monkeypatch.setattr(files.DepthWriter, "write", watching_write)
    monkeypatch.setattr(batch_module, "WRITE_AHEAD_PIXELS", 1200 * 1600)
    assert main(["predict", str(tmp_path / "in"), "--model", str(checkpoint), "--outdir", str(tmp_path / "out"),
                 "--formats", "side,png16,npy", "--batch-size", "4", *FAST]) == 0
    assert resized == [(1200, 1600)] * 3 and len(alive) == 3 and max(alive) <= 1
    assert load_image(tmp_path / "out" / "2_side.png").shape == (1200, 3208, 3)


def test_read_ahead_window_is_cut_short_by_pixels(checkpoint, monkeypatch):
    import depth_anything.inference.predictor as predictor_module
    from depth_anything.weights import load_model

    decoded = []
    real_load = predictor_module.load_image
    monkeypatch.setattr(predictor_module, "load_image", lambda s, n=None: decoded.append(n) or real_load(s, n))
    monkeypatch.setattr(predictor_module, "WINDOW_PIXELS", 30 * 30 * 2)  # two 30×30 images per window
    predictor = Predictor(load_model(checkpoint, device="cpu"), input_size=28, batch_size=4, prefetch=False)
    results = predictor.iter_results([np.zeros((30, 30, 3), np.uint8)] * 5)
    next(results)
    assert len(decoded) == 2  # not the whole window of 4 × 8 images
    assert len(list(results)) == 4 and len(decoded) == 5


def test_every_subcommand_is_listed():
    result = subprocess.run([sys.executable, "-m", "depth_anything.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for command in ("predict", "synth", "contact-sheet", "train", "label", "eval", "video", "pointcloud", "mesh", "sample-photos"):
        assert command in result.stdout


@pytest.mark.parametrize("command, expected", [
    ("predict", ["depth-anything predict photos/", "millimetres", "min-max normalised to 0..65535"]),
    ("video", ["depth-anything video --camera 0", "--normalize", "depth-anything[video]"]),
    ("pointcloud", ["60 degrees", "--focal", "metric-vkitti-vitl"]),
    ("mesh", ["60 degrees", "--keep-edges", "glb,mesh_ply,obj", "metric-hypersim-vitl"]),
])
def test_help_has_examples(command, expected, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "examples:" in text
    for words in expected:
        assert words in text, words


def test_an_image_over_pillows_pixel_limit_is_reported_not_a_crash(tmp_path, checkpoint, monkeypatch, capsys):
    from PIL import Image as PILImage

    _photo(tmp_path / "huge.png", (40, 60))
    _photo(tmp_path / "small.png", (8, 8))
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 1000)  # 40×60 is more than twice this: Pillow refuses it
    code = main(["predict", str(tmp_path / "huge.png"), str(tmp_path / "small.png"), "--model", str(checkpoint),
                 "--outdir", str(tmp_path / "o"), "--formats", "npy", *FAST])
    assert code == 1 and _files(tmp_path / "o") == ["small.npy"]
    assert "huge.png: too many pixels to decode" in capsys.readouterr().err


def test_png_compression_changes_the_size_not_the_pixels(tmp_path, checkpoint):
    _photo(tmp_path / "a.png", (40, 60))
    for level in ("0", "1"):
        assert main(["predict", str(tmp_path / "a.png"), "--model", str(checkpoint), "--outdir", str(tmp_path / level),
                     "--png-compression", level, "--formats", "side,png16", *FAST]) == 0
    for name in ("a_side.png", "a_depth16.png"):
        stored, deflated = tmp_path / "0" / name, tmp_path / "1" / name
        assert stored.stat().st_size > deflated.stat().st_size
        np.testing.assert_array_equal(np.asarray(Image.open(stored)), np.asarray(Image.open(deflated)))
