"""Video Depth Anything weights through the registry and `load_model`: the six published names, strict
loading of official-layout files by name or path, metric read from the file name, wrong families refused."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from depth_anything.errors import CheckpointMismatchError  # noqa: E402
from depth_anything.models import build_model  # noqa: E402
from depth_anything.models.video_depth_anything import VideoDepthAnything, build_video_model  # noqa: E402
from depth_anything.weights import CACHE_ENV, REGISTRY, load_model  # noqa: E402
from depth_anything.weights.registry import APACHE, CC_BY_NC, METRIC, RELATIVE, VIDEO  # noqa: E402

VIDEO_NAMES = [f"video-{kind}{encoder}" for kind in ("", "metric-") for encoder in ("vits", "vitb", "vitl")]


@pytest.fixture(scope="module")
def official_vits(tmp_path_factory):
    """A VDA vits network with seeded weights, saved as a bare state dict under both official file names."""
    torch.manual_seed(0)
    model = build_video_model("vits").eval()
    folder = tmp_path_factory.mktemp("vda")
    for name in ("video_depth_anything_vits.pth", "metric_video_depth_anything_vits.pth"):
        torch.save(model.state_dict(), folder / name)
    return model, folder


def test_the_six_published_files_are_registered_with_their_licences():
    rows = {name: REGISTRY[name] for name in VIDEO_NAMES}
    assert all(entry.family == VIDEO and entry.video for entry in rows.values())
    assert rows["video-vitl"].repo_id == "depth-anything/Video-Depth-Anything-Large"
    assert rows["video-metric-vitb"].repo_id == "depth-anything/Metric-Video-Depth-Anything-Base"
    assert rows["video-metric-vits"].filename == "metric_video_depth_anything_vits.pth"
    assert [rows[n].licence for n in ("video-vits", "video-vitb", "video-vitl")] == [APACHE, CC_BY_NC, CC_BY_NC]
    assert [rows[n].kind for n in ("video-vits", "video-metric-vits")] == [RELATIVE, METRIC]


def test_official_files_load_strictly_by_path_metric_from_the_file_name(official_vits):
    model, folder = official_vits
    relative = load_model(folder / "video_depth_anything_vits.pth", device="cpu")
    metric = load_model(folder / "metric_video_depth_anything_vits.pth", device="cpu")
    assert isinstance(relative, VideoDepthAnything) and not relative.metric and metric.metric
    assert relative.input_spec.output == "disparity" and metric.input_spec.output == "metric"
    clip = torch.randn(1, 3, 3, 28, 42)
    with torch.no_grad():
        expected = model(clip)
        assert expected.shape == (1, 3, 28, 42)
        torch.testing.assert_close(relative(clip), expected, rtol=0, atol=0)
        torch.testing.assert_close(metric(clip), expected, rtol=0, atol=0)  # same network: ReLU output both


def test_published_names_load_from_the_cache(official_vits, tmp_path, monkeypatch):
    _, folder = official_vits
    monkeypatch.setenv(CACHE_ENV, str(folder))
    assert load_model("video-metric-vits", device="cpu").metric
    assert not load_model("video-vits", device="cpu").metric


def test_a_checkpoint_of_the_wrong_family_is_refused_naming_the_file(official_vits, tmp_path, monkeypatch):
    _, folder = official_vits
    image = tmp_path / "video_depth_anything_vits.pth"  # an image model under a video file name and name
    torch.save(build_model("vits").state_dict(), image)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    with pytest.raises(CheckpointMismatchError, match=r"video_depth_anything_vits.pth holds a Depth Anything image model"):
        load_model("video-vits")
    monkeypatch.setenv(CACHE_ENV, str(folder))
    (tmp_path / "depth_anything_v2_vits.pth").symlink_to(folder / "video_depth_anything_vits.pth")
    with pytest.raises(CheckpointMismatchError, match="holds a Video Depth Anything model, but 'vits' is a depth-anything-v2"):
        load_model(tmp_path / "depth_anything_v2_vits.pth")
