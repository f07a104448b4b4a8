"""`depth-anything video`: H.264 depth videos at the input's frame rate and frame count, a colour scale
that stays put, image-sequence folders, streaming memory, cameras and a missing PyAV."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from model_helpers import randomize_, tiny_config
from PIL import Image
from video_helpers import write_h264

from depth_anything import build_model
from depth_anything.cli.__main__ import main
from depth_anything.inference import Predictor
from depth_anything.inference.video import FrameRenderer, per_frame_depth_frames
from depth_anything.outputs import VideoWriter
from depth_anything.weights import load_model, save_checkpoint

av = pytest.importorskip("av")
FAST = ["--input-size", "28", "--device", "cpu"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_checkpoint(randomize_(build_model(tiny_config()), seed=7), tmp_path_factory.mktemp("w") / "tiny.pt")


def _frames(count=12, width=64, height=48):
    """A square moving right over a dark background."""
    for i in range(count):
        frame = np.full((height, width, 3), 40, np.uint8)
        frame[10:26, 4 + 4 * i : 20 + 4 * i] = (220, 180, 60)
        yield frame


def _make_video(path, count=12, fps=10):
    return write_h264(path, _frames(count), fps)


def _probe(path):
    """Codec, frame rate, decoded frame count, width and height of a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return stream.codec_context.name, stream.average_rate, len(frames), stream.width, stream.height, frames


def test_side_by_side_video_keeps_codec_rate_and_frame_count(tmp_path, checkpoint, capsys):
    clip = _make_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert main(["video", str(clip), "--model", str(checkpoint), "--outdir", str(out), *FAST]) == 0
    codec, rate, count, width, height, frames = _probe(out / "clip_side.mp4")
    assert (codec, rate, count, width, height) == ("h264", 10, 12, 64 + 8 + 64, 48)
    assert np.abs(frames[0][:, :64].astype(int) - next(_frames())).mean() < 8  # the input is on the left
    assert "frames/s" in capsys.readouterr().err  # the progress bar
    assert main(["video", str(clip), "--model", str(checkpoint), "--outdir", str(out), "--pred-only", *FAST]) == 0
    assert _probe(out / "clip_depth.mp4")[:5] == ("h264", 10, 12, 64, 48)
    # no temporaries; each video's sidecar says what depth it shows
    assert sorted(p.name for p in out.iterdir()) == ["clip_depth.mp4", "clip_depth.mp4.json", "clip_side.mp4",
                                                     "clip_side.mp4.json"]
    from depth_anything.metadata import read_metadata

    record = read_metadata(out / "clip_side.mp4")
    assert (record.content, record.frames, record.fps, record.model, record.width) == ("picture", 12, 10.0,
                                                                                        str(checkpoint), 136)


def test_image_sequence_folder_with_a_bad_frame_keeps_its_length(tmp_path, checkpoint, capsys):
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, frame in enumerate(_frames(6)):
        Image.fromarray(frame).save(folder / f"f{i:03d}.png")
    (folder / "f003.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    code = main(["video", str(folder), "--model", str(checkpoint), "--outdir", str(out), "--fps", "5", *FAST])
    assert code == 1  # one frame could not be read
    assert "f003.png" in capsys.readouterr().err
    codec, rate, count, width, _, frames = _probe(out / "seq_side.mp4")
    assert (codec, rate, count, width) == ("h264", 5, 6, 136)
    assert np.abs(frames[3].astype(int) - frames[2]).max() <= 2  # the previous picture stands in


def _static_scene(outlier: str, count=10, odd_frame=5):
    """A still scene (a ramp) whose frame `odd_frame` holds a stray far pixel or a small far object."""
    depth = np.tile(np.linspace(1.0, 2.0, 40, dtype=np.float32), (30, 1))
    background = np.ones(depth.shape, bool)
    if outlier == "pixel":
        background[0, 0] = False
    else:
        background[:6, :10] = False  # 5 % of the frame
    for i in range(count):
        frame = depth.copy()
        if i == odd_frame:
            frame[~background] = 50.0 if outlier == "pixel" else 2.5
        yield np.zeros((30, 40, 3), np.uint8), frame, background


def _largest_change(normalize: str, outlier: str) -> int:
    """Largest grey-level change between consecutive frames, over the pixels that never change."""
    renderer = FrameRenderer(metric=False, grayscale=True, pred_only=True, normalize=normalize)
    scene = list(_static_scene(outlier))
    pictures = np.stack([renderer(image, depth)[..., 0] for image, depth, _ in scene]).astype(int)
    return int(np.abs(np.diff(pictures, axis=0))[:, scene[0][2]].max())


def test_running_scale_keeps_a_static_scene_steady_despite_an_outlier():
    # per-frame min–max: the outlier squeezes every other grey level of its frame
    assert _largest_change("frame", "pixel") > 200 and _largest_change("frame", "object") > 60
    assert _largest_change("running", "pixel") <= 1  # percentiles ignore a stray pixel
    assert _largest_change("running", "object") <= _largest_change("frame", "object") / 5  # the average damps a jump


def test_video_streams_with_flat_memory(checkpoint, tmp_path):
    """60 frames in: never more than a few read-ahead windows (8 frames each) are waiting to be encoded."""
    decoded, encoded, waiting = [0], [0], []
    predictor = Predictor(load_model(checkpoint, device="cpu"), input_size=28, batch_size=1)

    def source():
        for frame in _frames(60, 32, 24):
            decoded[0] += 1
            waiting.append(decoded[0] - encoded[0])
            yield frame

    with VideoWriter(tmp_path / "long.mp4", 25) as writer:
        renderer = FrameRenderer(metric=False)
        for frame in per_frame_depth_frames(predictor, source()):  # the command's own per-frame path
            writer.write(renderer(frame.image, frame.depth))
            encoded[0] += 1
    assert writer.frames == 60 and _probe(tmp_path / "long.mp4")[2] == 60
    assert max(waiting) <= 3 * 8 + 1  # three windows of 8 batches of 1, not the whole video


def test_camera_without_a_camera_is_a_clean_error(capsys):
    assert main(["video", "--camera", "97", "--model", "unused.pt"]) == 2
    err = capsys.readouterr().err
    assert "no camera at index 97" in err and "Traceback" not in err


def test_camera_records_to_outdir(tmp_path, checkpoint, monkeypatch):
    import cv2

    class FakeCamera:
        def __init__(self, index):
            self.frames = _frames(50)

        def isOpened(self):  # noqa: N802 (OpenCV's name)
            return True

        def get(self, prop):
            return 15.0

        def read(self):
            frame = next(self.frames, None)
            return (False, None) if frame is None else (True, frame[:, :, ::-1].copy())

        def release(self):
            pass

    monkeypatch.setattr(cv2, "VideoCapture", FakeCamera)
    out = tmp_path / "rec"
    assert main(["video", "--camera", "0", "--outdir", str(out), "--max-frames", "4", "--model", str(checkpoint),
                 "--pred-only", *FAST]) == 0
    assert _probe(out / "camera0_depth.mp4")[:5] == ("h264", 15, 4, 64, 48)


def test_missing_pyav_names_the_extra(tmp_path, checkpoint, monkeypatch, capsys):
    clip = _make_video(tmp_path / "clip.mp4", count=2)
    monkeypatch.setitem(sys.modules, "av", None)  # import av → ImportError
    assert main(["video", str(clip), "--model", str(checkpoint), "--outdir", str(tmp_path / "o"), *FAST]) == 2
    assert "pip install 'depth-anything[video]'" in capsys.readouterr().err

