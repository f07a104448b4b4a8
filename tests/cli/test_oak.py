"""`depth-anything oak` end to end without a camera: a replayed video through DepthAI's ReplayVideo → the
archive's model on the host → the host node → the video command's writers; every frame once, in order; a
pipeline that stops mid-run keeps what was recorded; no camera, a camera-only archive or --stereo-align
on a replay are refused with a message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_helpers import randomize_, tiny_config
from video_helpers import write_h264

pytest.importorskip("depthai", reason="DepthAI needs the oak extra: pip install 'depth-anything[oak]'")
pytest.importorskip("luxonis_ml", reason="NN Archives need the oak extra: pip install 'depth-anything[oak]'")
pytest.importorskip("onnxscript", reason="exporting the archive needs the onnx extra")
av = pytest.importorskip("av", reason="recording needs the video extra: pip install 'depth-anything[video]'")

from depth_anything.cli.__main__ import main  # noqa: E402
from depth_anything.export import depthai as oak  # noqa: E402
from depth_anything.models import build_model  # noqa: E402
from depth_anything.transforms import resize_depth  # noqa: E402

FRAMES, HEIGHT, WIDTH = 20, 96, 128


@pytest.fixture(scope="module")
def model():
    return randomize_(build_model(tiny_config(max_depth=20.0)), seed=7).eval()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, model):
    from depth_anything.export.nnarchive import export_nnarchive

    out = tmp_path_factory.mktemp("oak") / "tiny.tar.xz"
    export_nnarchive(model, out, source="tiny", input_size=140)
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """20 frames at 10 fps whose content moves, so each frame's depth differs (lossless H.264)."""
    path = tmp_path_factory.mktemp("clip") / "walk.mp4"
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = (np.stack([(x * 2 + 12 * i) % 256, (y * 2 + 5 * i) % 256, 255 - (x + y) % 256], -1).astype(np.uint8)
              for i in range(FRAMES))
    write_h264(path, frames, 10, lossless=True)
    return path


def _decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _expected_depth(model, archive, rgb: np.ndarray) -> np.ndarray:
    described = oak.archive_model(archive)
    spec = model.input_spec
    x = torch.from_numpy(oak.archive_input(rgb, described))
    with torch.no_grad():
        raw = model((x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1))
    return resize_depth(raw[0], rgb.shape[:2]).numpy()


def _slower_network(monkeypatch, seconds: float) -> None:
    """Make the host network take `seconds` more per frame: slower than the replay's 30 frames/s, as a real
    model on a CPU is, so frames queue up inside the pipeline (where DepthAI's own end of file loses them)."""
    import time

    real_build = oak.build_replay_pipeline

    def slowed(*args, **kwargs):
        built = real_build(*args, **kwargs)
        run = built.network.runtime.run
        built.network.runtime.run = lambda batch: (time.sleep(seconds), run(batch))[1]
        return built

    monkeypatch.setattr(oak, "build_replay_pipeline", slowed)


def _record(archive, clip, out, formats: str, *extra: str) -> int:
    """`depth-anything oak ARCHIVE --replay CLIP` recording `formats` into `out`; its exit code."""
    return main(["oak", str(archive), "--replay", str(clip), "--outdir", str(out), "--formats", formats,
                 "--no-progress", *extra])


def test_replay_records_every_frame_in_order(archive, clip, model, tmp_path, capsys, monkeypatch):
    _slower_network(monkeypatch, 0.08)
    out = tmp_path / "rec"
    code = _record(archive, clip, out, "mp4,npz")
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert f"{FRAMES} frame(s) from the replay in" in printed and "frames/s (host ONNX Runtime)" in printed
    with np.load(out / "walk.npz") as saved:
        depth, kind = saved["depth"], str(saved["kind"])
    assert depth.shape == (FRAMES, HEIGHT, WIDTH) and kind == "metric depth"
    assert len(_decoded(out / "walk_side.mp4")) == FRAMES
    frames = _decoded(clip)
    for index in range(FRAMES):  # frame i's depth is the model's on frame i (DepthAI and PyAV decode alike)
        expected = _expected_depth(model, archive, frames[index])
        span = float(expected.max() - expected.min())
        assert float(np.abs(depth[index] - expected).max()) < 1e-3 * span, index
    assert float(np.abs(depth[1] - depth[0]).max()) > 1e-2 * span  # the frames do differ


def test_a_pipeline_that_stops_mid_run_keeps_what_was_recorded(archive, clip, tmp_path, capsys, monkeypatch):
    import depthai as dai

    real_build = oak.build_replay_pipeline

    class Unplug(dai.node.HostNode):  # stops the pipeline as an unplugged camera does, after 8 results
        def build(self, depth):
            self.link_args(depth)
            return self

        def process(self, depth):
            if depth.getSequenceNum() == 7:
                self.stopPipeline()

    def unplugged(*args, **kwargs):
        built = real_build(*args, **kwargs)
        built.pipeline.create(Unplug).build(built.host.depth)
        return built

    monkeypatch.setattr(oak, "build_replay_pipeline", unplugged)
    out = tmp_path / "rec"
    code = _record(archive, clip, out, "mp4,npz")
    captured = capsys.readouterr()
    assert code == 1
    with np.load(out / "walk.npz") as saved:
        kept = saved["depth"].shape[0]
    assert 0 < kept < FRAMES
    assert len(_decoded(out / "walk_side.mp4")) == kept
    assert f"the replay stopped after {kept} frame(s)" in captured.err
    assert f"the {kept} frame(s) before it are kept" in captured.err
    assert not list(out.glob(".*partial*"))  # no temporary files left behind


def test_max_frames_stops_a_replay_early(archive, clip, tmp_path, capsys):
    out = tmp_path / "rec"
    assert _record(archive, clip, out, "npz", "--max-frames", "3") == 0
    with np.load(out / "walk.npz") as saved:
        assert saved["depth"].shape[0] == 3
    assert "3 frame(s) from the replay" in capsys.readouterr().out


def test_without_a_camera_it_says_so(archive, capsys):
    import depthai as dai

    if dai.Device.getAllAvailableDevices():
        pytest.skip("an OAK camera is attached")
    assert main(["oak", str(archive), "--outdir", "unused"]) == 2
    err = capsys.readouterr().err
    assert "no OAK camera found" in err and "run a recorded video through a replay (--replay VIDEO)" in err


def _converted_copy(archive, out):
    """The archive as modelconverter would hand it back for RVC4: same config, a .dlc model file."""
    import io
    import json
    import tarfile

    from depth_anything.export.nnarchive import read_nnarchive

    config, _ = read_nnarchive(archive)
    config["model"]["metadata"]["path"] = "vits.dlc"
    with tarfile.open(out, "w:xz") as tar:
        for name, data in (("config.json", json.dumps(config).encode()), ("vits.dlc", b"\0" * 64)):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return out


def test_bad_requests_are_refused_with_a_reason(archive, clip, tmp_path, capsys):
    assert main(["oak", str(archive), "--replay", str(clip), "--stereo-align"]) == 2
    assert "--stereo-align needs the camera's stereo depth" in capsys.readouterr().err
    assert main(["oak", str(tmp_path / "none.tar.xz"), "--replay", str(clip)]) == 2
    assert "none.tar.xz: no such NN Archive" in capsys.readouterr().err
    assert main(["oak", str(archive), "--replay", str(tmp_path / "none.mp4")]) == 2
    assert "none.mp4: no such video file" in capsys.readouterr().err
    converted = _converted_copy(archive, tmp_path / "rvc4.tar.xz")  # a .dlc cannot run on the host
    assert main(["oak", str(converted), "--replay", str(clip)]) == 2
    assert "rvc4.tar.xz holds vits.dlc, compiled for a camera" in capsys.readouterr().err
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    assert main(["oak", str(archive), "--replay", str(tmp_path / "broken.mp4")]) == 2
    assert "broken.mp4: not a readable video" in capsys.readouterr().err
