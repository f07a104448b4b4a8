"""The web demo's work without a browser: upload checks, the depth outputs, the model chooser (no gradio needed)."""

from __future__ import annotations

import numpy as np
import pytest
from model_helpers import randomize_, tiny_config
from PIL import Image

from depth_anything import Predictor, build_model
from depth_anything.app import (
    MAX_PIXELS,
    MAX_UPLOAD_BYTES,
    ModelChooser,
    ModelUnavailableError,
    check_upload,
    compute_depth_outputs,
    model_sources,
)
from depth_anything.app.processing import OutputFolder, display_copy
from depth_anything.errors import ImageReadError, ImageTooLargeError
from depth_anything.weights import save_checkpoint


@pytest.fixture(scope="module")
def predictor():
    return Predictor(randomize_(build_model(tiny_config()), seed=7), input_size=28)


@pytest.fixture
def photo(tmp_path):
    rgb = np.random.default_rng(1).integers(0, 256, (30, 44, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "cat.png")
    return tmp_path / "cat.png", rgb


def test_outputs_are_the_image_its_coloured_depth_and_two_valid_pngs(tmp_path, photo, predictor):
    path, rgb = photo
    out = compute_depth_outputs(path, predictor, tmp_path / "out", "viridis", model_name="tiny")
    np.testing.assert_array_equal(out.image, rgb)
    assert out.colored.shape == rgb.shape and out.colored.dtype == np.uint8 and out.depth.shape == (30, 44)
    assert out.depth16_path.name == "cat_depth16.png" and out.colored_path.name == "cat_depth.png"
    with Image.open(out.depth16_path) as depth16:
        assert depth16.mode.startswith("I") and depth16.size == (44, 30)
        values = np.asarray(depth16)
    assert values.min() == 0 and values.max() == 65535
    # larger = nearer in the prediction stays larger in the PNG
    assert np.corrcoef(values.ravel().astype(float), out.depth.ravel())[0, 1] > 0.999
    with Image.open(out.colored_path) as colored:
        assert colored.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(colored), out.colored)
    assert "cat.png" in out.summary and "tiny" in out.summary and "44×30" in out.summary


def test_metric_models_write_millimetres(tmp_path, photo):
    metric = Predictor(randomize_(build_model(tiny_config(max_depth=20.0)), seed=2), input_size=28)
    out = compute_depth_outputs(photo[0], metric, tmp_path, model_name="m")
    with Image.open(out.depth16_path) as depth16:
        millimetres = np.asarray(depth16).astype(np.float64)
    np.testing.assert_allclose(millimetres, np.round(out.depth * 1000.0), atol=1)
    assert out.metric and " m (16-bit PNG in millimetres)" in out.summary


def test_broken_and_oversized_uploads_are_refused_with_a_message(tmp_path, photo, predictor):
    broken = tmp_path / "photo.png"
    broken.write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(ImageReadError, match=r"^photo\.png: not a readable image") as caught:
        compute_depth_outputs(broken, predictor, tmp_path)
    assert str(tmp_path) not in str(caught.value)  # the server's temporary path is not shown to the user

    big = tmp_path / "big.jpg"
    with open(big, "wb") as handle:  # sparse: no 21 MB written
        handle.truncate(MAX_UPLOAD_BYTES + 1)
    with pytest.raises(ImageTooLargeError, match=r"big\.jpg is 20\.0 MB; the demo takes files up to 20 MB"):
        check_upload(big)

    with pytest.raises(ImageTooLargeError, match=r"cat\.png is 44×30 = 0\.0 megapixels"):
        check_upload(photo[0], max_pixels=44 * 30 - 1)
    check_upload(photo[0], max_pixels=44 * 30)
    assert MAX_PIXELS == 50_000_000 and MAX_UPLOAD_BYTES == 20 * 2**20
    assert not list(tmp_path.glob("*_depth*.png"))


def test_large_images_are_shown_scaled_down():
    picture = np.zeros((3000, 1500, 3), np.uint8)
    assert display_copy(picture, 2048).shape == (2048, 1024, 3)
    assert display_copy(picture[:100, :50]).shape == (100, 50, 3)


def test_chooser_opens_models_on_first_use_keeps_them_and_retries_failures(tmp_path):
    calls: list[str] = []
    checkpoint = tmp_path / "later.pt"

    def opener(model, **options):
        calls.append(model)
        assert options["batch_size"] == 1 and options["input_size"] == 28
        if model == "default-metric":
            raise FileNotFoundError("no such file")
        from depth_anything import open_predictor

        return open_predictor(model, **options)

    chooser = ModelChooser(model_sources(str(checkpoint)), input_size=28, opener=opener)
    assert chooser.names == ["default", "default-metric", str(checkpoint)]
    assert calls == []  # nothing is loaded before it is asked for

    name, failures = chooser.first_available(["default-metric", str(checkpoint)])
    assert name is None and set(failures) == {"default-metric", str(checkpoint)}
    assert "model 'default-metric' could not be opened: no such file" in failures["default-metric"]

    save_checkpoint(randomize_(build_model(tiny_config()), seed=1), checkpoint)  # the file appears later
    first = chooser.get(str(checkpoint))
    assert chooser.get(str(checkpoint)) is first and chooser.is_loaded(str(checkpoint))
    assert calls.count(str(checkpoint)) == 2  # one failure, one load, then the kept one
    with pytest.raises(ModelUnavailableError, match="unknown model 'vitz'"):
        chooser.get("vitz")


def test_output_folder_keeps_only_the_latest_requests(tmp_path):
    folders = OutputFolder(tmp_path / "out", keep=2)
    made = [folders.new() for _ in range(3)]
    assert not made[0].exists() and made[1].is_dir() and made[2].is_dir()


def _rendered_photo_with_exif(path, focal_35mm: int):
    """A rendered room (something with surfaces to mesh) saved as a JPEG whose EXIF gives its focal length."""
    from depth_anything.data.synthetic import SynthConfig, render, sample_rng, sample_scene

    config = SynthConfig(width=96, height=72, indoor_fraction=1.0, mirror_probability=0.0, glass_probability=0.0,
                         fog_probability=0.0, noise_probability=0.0)
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = focal_35mm  # FocalLengthIn35mmFilm
    Image.fromarray(render(sample_scene(sample_rng(3, 0), config)).image).save(path, "JPEG", quality=95, exif=exif)
    return path


def test_metric_models_make_a_mesh_with_the_photos_camera(tmp_path, monkeypatch):
    pytest.importorskip("trimesh")
    import math

    from depth_anything import open_predictor
    from depth_anything.app import processing
    from depth_anything.metadata import read_metadata

    photo = _rendered_photo_with_exif(tmp_path / "room.jpg", focal_35mm=28)
    metric = open_predictor("default-metric")
    monkeypatch.setattr(processing, "MESH_MAX_VERTICES", 2000)  # a 96×72 photo: 6912 pixels, so decimated
    out = compute_depth_outputs(photo, metric, tmp_path / "out", model_name="default-metric")
    assert out.mesh_path is not None and out.mesh_path.name == "room.glb"
    assert out.mesh_path.read_bytes()[:4] == b"glTF"
    record = read_metadata(out.mesh_path)
    focal = 28 * math.hypot(96, 72) / math.hypot(36, 24)  # the 35 mm equivalent over the diagonal
    assert record.content == "mesh" and record.focal_source == "exif" and record.model == "default-metric"
    assert record.intrinsics.fx == pytest.approx(focal)
    assert f"{record.fov_deg:.1f}° horizontal FOV" in out.mesh_note and "EXIF" in out.mesh_note
    import trimesh

    assert 0 < len(trimesh.load(out.mesh_path, force="mesh").vertices) <= 2000
    assert read_metadata(out.depth16_path).focal_source == "exif"  # the 16-bit PNG records the same camera
    relative = compute_depth_outputs(photo, Predictor(randomize_(build_model(tiny_config()), seed=7), input_size=28),
                                     tmp_path / "rel")
    assert relative.mesh_path is None and "metric models only" in relative.mesh_note


def test_the_demo_mesh_cuts_edges_at_the_network_pixel_spacing(tmp_path, monkeypatch):
    """A prediction resized up from a small network input has blurred edges: the demo looks for them at
    the network's pixel spacing, as `depth-anything mesh` does, not pixel by pixel."""
    pytest.importorskip("trimesh")
    import trimesh

    from depth_anything import open_predictor
    from depth_anything.app import processing
    from depth_anything.io import load_image
    from depth_anything.mesh import depth_to_mesh, edge_spacing

    photo = _rendered_photo_with_exif(tmp_path / "room.jpg", focal_35mm=28)
    metric = open_predictor("default-metric", input_size=32)  # 96×72 photo: edges 2 pixels apart
    monkeypatch.setattr(processing, "MESH_MAX_VERTICES", 10_000)
    out = compute_depth_outputs(photo, metric, tmp_path / "out", model_name="default-metric")
    camera = processing.choose_camera(96, 72, photo)
    spacing = edge_spacing(out.depth.shape, 32)
    assert spacing == 2
    expected = depth_to_mesh(out.depth, load_image(photo), camera.intrinsics, edge_spacing=spacing)
    pixelwise = depth_to_mesh(out.depth, load_image(photo), camera.intrinsics, edge_spacing=1)
    shown = trimesh.load(out.mesh_path, force="mesh")
    assert len(expected.faces) != len(pixelwise.faces)  # the spacing matters for this photo
    assert len(shown.faces) == len(expected.faces)
