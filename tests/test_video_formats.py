"""`depth-anything video` on every model: a Video Depth Anything file (offline windows and --streaming) and
a per-frame model (stabilised), raw depth beside the pictures (png16 with one range per video, npz, exr),
frame count and rate kept, shot cuts restarting the temporal state, and bad inputs that leave nothing
half-written while the other inputs still run."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from model_helpers import randomize_, tiny_config
from PIL import Image
from video_helpers import write_h264

from depth_anything import build_model
from depth_anything.cli.__main__ import main
from depth_anything.inference.video import SceneCuts, temporal_depth_frames
from depth_anything.models.video_depth_anything import build_video_model
from depth_anything.weights import load_model, save_checkpoint

av = pytest.importorskip("av")
torch = pytest.importorskip("torch")
FAST = ["--input-size", "28", "--device", "cpu", "--no-progress"]
HALF = 12  # frames per half of the generated clip


def _frames(count=2 * HALF):
    """Two very different shots: an orange square on dark grey, then a blue bar on light grey."""
    for i in range(count):
        if i < HALF:
            frame = np.full((48, 64, 3), 40, np.uint8)
            frame[10:26, 2 * i : 2 * i + 16] = (220, 180, 60)
        else:
            frame = np.full((48, 64, 3), 200, np.uint8)
            frame[20:44, 2 * i - 20 : 2 * i - 10] = (10, 60, 250)
        yield frame


def _make_video(path, count=2 * HALF, fps=12):
    return write_h264(path, _frames(count), fps)


def _probe(path):
    """Frame rate and decoded frame count of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.average_rate, sum(1 for _ in container.decode(stream))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A small Video Depth Anything network and a tiny per-frame model, saved as checkpoint files."""
    folder = tmp_path_factory.mktemp("w")
    torch.manual_seed(0)
    video = build_video_model(tiny_config(features=32, out_channels=(32, 32, 32, 32)))
    return {
        "video": save_checkpoint(video, folder / "vda.pt"),
        "frame": save_checkpoint(randomize_(build_model(tiny_config()), seed=7), folder / "tiny.pt"),
    }


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return _make_video(tmp_path_factory.mktemp("clip") / "clip.mp4")


@pytest.mark.parametrize("model,extra", [("video", []), ("video", ["--streaming"]), ("frame", [])])
def test_every_format_keeps_frame_count_and_rate(weights, clip, tmp_path, model, extra):
    pytest.importorskip("OpenEXR")
    import OpenEXR

    out = tmp_path / "out"
    argv = ["video", str(clip), "--model", str(weights[model]), "--outdir", str(out), "--formats",
            "mp4,png16,npz,exr", "--pred-only", *FAST, *extra]
    assert main(argv) == 0
    assert _probe(out / "clip_depth.mp4") == (12, 2 * HALF)
    with np.load(out / "clip.npz") as data:
        depth = data["depth"]
        assert depth.shape == (2 * HALF, 48, 64) and depth.dtype == np.float32
        assert float(data["fps"]) == 12 and str(data["units"]) == "relative" and str(data["kind"]) == "disparity"
    info = json.loads((out / "clip" / "png16.json").read_text())
    assert (info["frames"], info["fps"], info["low"], info["high"]) == (2 * HALF, 12, depth.min(), depth.max())
    pngs = sorted((out / "clip").glob("*.png"))
    exrs = sorted((out / "clip").glob("*.exr"))
    assert len(pngs) == len(exrs) == 2 * HALF
    for index in (0, HALF + 3):  # one range for the whole video: every frame maps back with it
        values = cv2.imread(str(pngs[index]), cv2.IMREAD_UNCHANGED).astype(np.float64)
        assert values.ndim == 2 and values.max() <= 65535
        np.testing.assert_allclose(info["low"] + values / info["png_scale"], depth[index], atol=1 / info["png_scale"])
        with OpenEXR.File(str(exrs[index])) as exr:
            np.testing.assert_array_equal(exr.channels()["Z"].pixels, depth[index])
    # no temporaries; the mp4's sidecar says what it shows
    assert sorted(p.name for p in out.iterdir()) == ["clip", "clip.npz", "clip_depth.mp4", "clip_depth.mp4.json"]
    from depth_anything.metadata import read_metadata

    records = [read_metadata(path) for path in (out / "clip.npz", pngs[-1], exrs[-1], out / "clip_depth.mp4")]
    assert {(r.model, r.kind, r.fps) for r in records} == {(str(weights[model]), "disparity", 12.0)}
    assert (records[1].frame, records[1].frames) == (2 * HALF - 1, 2 * HALF)


def test_temporal_outputs_are_the_library_s(weights, clip, tmp_path):
    """The npz holds exactly what iter_video_depth gives for the decoded frames (offline windows)."""
    from depth_anything.inference.video import VideoReader
    from depth_anything.inference.video_windows import infer_video_depth

    out = tmp_path / "out"
    assert main(["video", str(clip), "--model", str(weights["video"]), "--outdir", str(out), "--formats", "npz", *FAST]) == 0
    expected = infer_video_depth(load_model(weights["video"], device="cpu"), list(VideoReader(clip)), input_size=28)
    with np.load(out / "clip.npz") as data:
        np.testing.assert_array_equal(data["depth"], expected)
    assert sorted(p.name for p in out.iterdir()) == ["clip.npz"]


def test_a_vda_file_is_read_once_and_runs_in_the_asked_dtype(weights, clip, tmp_path, monkeypatch):
    """--dtype reaches the temporal model (bf16 here), and telling a VDA file from an image model reads
    its names only: the tensors are read once."""
    from depth_anything.inference.video import VideoReader
    from depth_anything.inference.video_windows import infer_video_depth
    from depth_anything.weights import files
    from depth_anything.weights import load as loading

    reads = []
    real = files.read_checkpoint
    for module in (files, loading):  # the function and the name load.py imported
        monkeypatch.setattr(module, "read_checkpoint", lambda path: reads.append(path) or real(path))
    out = tmp_path / "out"
    argv = ["video", str(clip), "--model", str(weights["video"]), "--outdir", str(out), "--formats", "npz",
            "--dtype", "bf16", *FAST]
    assert main(argv) == 0
    assert len(reads) == 1
    model = load_model(weights["video"], device="cpu", dtype="bf16")
    expected = infer_video_depth(model, list(VideoReader(clip)), input_size=28)
    full = infer_video_depth(load_model(weights["video"], device="cpu"), list(VideoReader(clip)), input_size=28)
    with np.load(out / "clip.npz") as data:
        np.testing.assert_array_equal(data["depth"], expected)
        assert not np.array_equal(data["depth"], full)  # bf16 really ran


@pytest.mark.parametrize("mode", ["offline", "streaming"])
def test_a_scene_cut_restarts_the_temporal_state(weights, mode):
    """With cuts, the second shot's depth is exactly that of the second shot run alone: nothing of the first
    shot reaches it."""
    pytest.importorskip("scenedetect")
    model = load_model(weights["video"], device="cpu")
    frames = list(_frames())
    cuts = SceneCuts(12)
    joined = list(temporal_depth_frames(model, frames, 28, mode, cuts))
    alone = list(temporal_depth_frames(model, frames[HALF:], 28, mode))
    assert cuts.cuts == [HALF]
    assert [f.index for f in joined if f.new_shot] == [0, HALF]
    for with_cut, by_itself in zip(joined[HALF:], alone, strict=True):
        np.testing.assert_array_equal(with_cut.depth, by_itself.depth)
        np.testing.assert_array_equal(with_cut.image, by_itself.image)
    if mode == "offline":  # (the check is meaningful: without cuts the first shot leaks in)
        without = list(temporal_depth_frames(model, frames, 28, mode))
        assert not np.array_equal(without[HALF].depth, alone[0].depth)


def test_scene_cuts_on_the_command_line(weights, clip, tmp_path, capsys):
    pytest.importorskip("scenedetect")
    for model in ("video", "frame"):
        out = tmp_path / model
        assert main(["video", str(clip), "--model", str(weights[model]), "--outdir", str(out), "--scene-cuts", *FAST]) == 0
        assert _probe(out / "clip_side.mp4") == (12, 2 * HALF)


def test_stabilize_off_gives_the_predictor_s_maps(weights, clip, tmp_path):
    from depth_anything import open_predictor
    from depth_anything.inference.video import VideoReader

    out = tmp_path / "out"
    outputs = {}
    for setting in ("on", "off"):
        assert main(["video", str(clip), "--model", str(weights["frame"]), "--outdir", str(out / setting),
                     "--formats", "npz", "--stabilize", setting, *FAST]) == 0
        with np.load(out / setting / "clip.npz") as data:
            outputs[setting] = data["depth"]
    predictor = open_predictor(str(weights["frame"]), "torch", "cpu", input_size=28)
    plain = np.stack([r.depth for r in predictor.iter_results(VideoReader(clip))])
    np.testing.assert_allclose(outputs["off"], plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs["on"][0], plain[0], rtol=1e-5, atol=1e-6)  # the first frame sets the scale
    assert not np.allclose(outputs["on"][1:], plain[1:])


def test_bad_inputs_leave_nothing_half_written_and_the_others_run(weights, clip, tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[: len(clip.read_bytes()) // 3] + b"\0" * 4000)
    noise = tmp_path / "noise.mp4"
    noise.write_bytes(b"not a video at all" * 100)
    resized = tmp_path / "resized"
    resized.mkdir()
    for i, frame in enumerate(_frames(5)):
        Image.fromarray(frame if i != 3 else frame[:40]).save(resized / f"f{i:03d}.png")
    out = tmp_path / "out"
    for model in ("video", "frame"):
        argv = ["video", str(noise), str(resized), str(clip), "--model", str(weights[model]), "--outdir",
                str(out / model), "--formats", "mp4,npz,png16", *FAST]
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert f"{noise}: not a readable video" in err
        if model == "video":  # the temporal path checks sizes itself; the per-frame one draws each frame
            assert f"{resized}: frame 3 ({resized / 'f003.png'}) is 40×64, but the video's frames are 48×64" in err
        written = sorted(p.name for p in (out / model).iterdir())
        assert "clip_side.mp4" in written and "clip.npz" in written  # the good input still ran
        assert not any(name.startswith(("noise", ".")) for name in written), written
        if model == "video":
            assert not any(name.startswith("resized") for name in written), written


def test_a_checkpoint_of_the_wrong_family_names_the_file(clip, tmp_path, capsys):
    wrong = tmp_path / "video_depth_anything_vits.pth"  # an image model's weights under a VDA file name
    torch.save(build_model("vits").state_dict(), wrong)
    assert main(["video", str(clip), "--model", str(wrong), "--outdir", str(tmp_path / "o"), *FAST]) == 2
    assert f"{wrong} holds a Depth Anything image model, but 'video-vits' is a video-depth-anything model" in \
        capsys.readouterr().err
    assert not (tmp_path / "o").exists()
