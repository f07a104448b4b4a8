"""The DepthAI host side without a device: a replayed video → HostNetwork (the archive's model) →
DepthHost → output queues, and the parsing of raw network output into this project's depth maps."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("depthai", reason="DepthAI needs the oak extra: pip install 'depth-anything[oak]'")
pytest.importorskip("luxonis_ml", reason="NN Archives need the oak extra: pip install 'depth-anything[oak]'")

from depth_anything.errors import ExportError  # noqa: E402
from depth_anything.export.depthai import (  # noqa: E402
    archive_input,
    archive_model,
    build_replay_pipeline,
    network_output_to_depth,
    read_depth_message,
)
from depth_anything.pictures import depth_picture  # noqa: E402
from depth_anything.transforms import InputSpec, resize_depth  # noqa: E402


@pytest.mark.parametrize("shape", [(12,), (3, 4), (1, 3, 4), (1, 1, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_raw_output_becomes_a_depth_map_at_the_frame_size(shape, dtype):
    raw = np.arange(12, dtype=np.float32).reshape(shape).astype(dtype)
    depth = network_output_to_depth(raw, (3, 4), (6, 10))
    expected = resize_depth(torch.arange(12, dtype=torch.float32).reshape(3, 4), (6, 10)).numpy()
    assert depth.dtype == np.float32 and depth.shape == (6, 10)
    np.testing.assert_allclose(depth, expected, rtol=1e-3)
    with pytest.raises(ExportError, match="does not hold a 4×4 map"):
        network_output_to_depth(raw, (4, 4), (6, 10))


def test_pictures_put_near_in_warm_colours_for_both_kinds():
    ramp = np.linspace(0.1, 1.0, 20, dtype=np.float32)[None].repeat(4, 0)
    relative = depth_picture(ramp, invert=InputSpec().is_metric)  # disparity: right = near
    metric = depth_picture(ramp, invert=InputSpec(output="metric", max_depth=20.0).is_metric)  # metres: left = near
    np.testing.assert_array_equal(relative[:, ::-1], metric)


def _video(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()


def test_replayed_video_through_the_host_pipeline(archive, metric_model, tmp_path):
    import depthai as dai

    frames = []
    for i in range(3):  # smooth content, so the video codec keeps it close
        y, x = np.mgrid[0:120, 0:160]
        frames.append(np.stack([(x + 40 * i) % 256, y * 2, (x + y) % 256], -1).astype(np.uint8))
    _video(tmp_path / "clip.mp4", frames)
    built = build_replay_pipeline(tmp_path / "clip.mp4", archive[0])

    seen: dict[int, np.ndarray] = {}

    class Tap(dai.node.HostNode):  # records the frames exactly as the pipeline decoded them
        def build(self, frames_out):
            self.link_args(frames_out)
            return self

        def process(self, frame):
            seen[frame.getSequenceNum()] = frame.getCvFrame().copy()

    built.pipeline.create(Tap).build(built.source.out)
    results = []
    with built.pipeline as pipeline:
        depth_queue, picture_queue = built.host.depth.createOutputQueue(), built.host.picture.createOutputQueue()
        pipeline.start()
        for _ in range(4):
            message = depth_queue.get()
            results.append((message.getSequenceNum(), read_depth_message(message), picture_queue.get().getCvFrame()))
        pipeline.stop()
    described = archive_model(archive[0])
    spec = metric_model.input_spec
    for sequence, depth, picture in results:
        assert depth.shape == (120, 160) and depth.dtype == np.float32 and picture.shape == (120, 160, 3)
        x = torch.from_numpy(archive_input(cv2.cvtColor(seen[sequence], cv2.COLOR_BGR2RGB), described))
        with torch.no_grad():
            raw = metric_model((x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1))
        expected = resize_depth(raw[0], (120, 160)).numpy()
        assert float(np.abs(depth - expected).max()) < 1e-4 * float(expected.max() - expected.min())
        expected_picture = cv2.cvtColor(depth_picture(expected, invert=spec.is_metric), cv2.COLOR_RGB2BGR)
        assert float(np.abs(picture.astype(int) - expected_picture).mean()) < 1.0
