"""Each published-layout reader on a tiny fixture written in that layout."""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_anything.data.datasets import open_dataset
from depth_anything.data.layouts import hypersim_distance_to_depth, read_dpt, read_mask, read_png16_depth
from depth_anything.errors import DatasetError, ImageReadError
from depth_anything.io import save_depth_png16

H, W = 12, 16


def write_rgb(path: Path, value: int = 100) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.full((H, W, 3), value, np.uint8)
    rgb[:, :, 0] = np.arange(W, dtype=np.uint8)[None, :] * 10  # red ramp so BGR/RGB swaps show
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])
    return rgb


def write_png16(path: Path, raw: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), raw.astype(np.uint16))


def ramp(lo: float, hi: float) -> np.ndarray:
    return np.linspace(lo, hi, H * W, dtype=np.float32).reshape(H, W)


# ------------------------------------------------------------------------------------ KITTI
def make_kitti(root: Path) -> np.ndarray:
    drive = "2011_09_26_drive_0002_sync"
    for frame in ("0000000069", "0000000070"):
        write_rgb(root / "2011_09_26" / drive / "image_02" / "data" / f"{frame}.png")
    depth = ramp(1.0, 80.0)
    raw = np.round(depth * 256).astype(np.uint16)
    raw[0, 0] = 0  # LiDAR hole
    write_png16(root / "data_depth_annotated" / "val" / drive / "proj_depth" / "groundtruth" / "image_02" / "0000000069.png", raw)
    (root / "eigen_test_files_with_gt.txt").write_text(
        f"2011_09_26/{drive}/image_02/data/0000000069.png {drive}/proj_depth/groundtruth/image_02/0000000069.png 721.5377\n"
        f"2011_09_26/{drive}/image_02/data/0000000070.png None 721.5377\n"
    )
    return raw


def test_kitti_eigen_split_with_annotated_depth(tmp_path: Path) -> None:
    raw = make_kitti(tmp_path)
    reader = open_dataset("kitti", tmp_path, split="test")
    assert len(reader) == 2
    sample = reader[0]
    assert sample.name == "2011_09_26_drive_0002_sync/image_02/0000000069"
    assert sample.image.shape == (H, W, 3) and sample.image.dtype == np.uint8
    assert sample.image[0, 5, 0] == 50  # red ramp survived as RGB
    np.testing.assert_allclose(sample.depth, raw / 256.0, rtol=0, atol=1e-6)
    assert not sample.valid[0, 0] and sample.valid.sum() == H * W - 1
    assert sample.meta["focal"] == pytest.approx(721.5377)
    assert reader[1].depth is None  # "None" in the split file: no ground truth


def test_kitti_selfsupervised_split_lines(tmp_path: Path) -> None:
    make_kitti(tmp_path)
    listing = tmp_path / "mine.txt"
    listing.write_text("2011_09_26/2011_09_26_drive_0002_sync 69 l\n")
    reader = open_dataset("kitti", tmp_path, split="test", split_file=listing)
    assert reader[0].depth is not None and reader[0].depth.shape == (H, W)


def test_kitti_split_paths_may_start_with_a_slash(tmp_path: Path) -> None:
    raw = make_kitti(tmp_path)
    drive = "2011_09_26_drive_0002_sync"
    listing = tmp_path / "bts.txt"
    listing.write_text(
        f"/2011_09_26/{drive}/image_02/data/0000000069.png /{drive}/proj_depth/groundtruth/image_02/0000000069.png 721.5377\n"
        f"/2011_09_26/{drive} 69 l\n"
    )
    reader = open_dataset("kitti", tmp_path, split="test", split_file=listing)
    assert reader.items[0].image == tmp_path / "2011_09_26" / drive / "image_02" / "data" / "0000000069.png"
    for sample in reader:
        assert sample.name == f"{drive}/image_02/0000000069"
        np.testing.assert_allclose(sample.depth, raw / 256.0, rtol=0, atol=1e-6)
    assert reader[0].meta["focal"] == pytest.approx(721.5377)


def test_kitti_named_depth_that_does_not_exist_fails_naming_it(tmp_path: Path) -> None:
    make_kitti(tmp_path)
    drive = "2011_09_26_drive_0002_sync"
    listing = tmp_path / "typo.txt"
    listing.write_text(
        f"2011_09_26/{drive}/image_02/data/0000000070.png {drive}/proj_depth/groundtruth/image_02/0000000070.png\n"
        f"2011_09_26/{drive} 70 l\n"  # derived depth path: a frame without annotation stays unlabeled
    )
    reader = open_dataset("kitti", tmp_path, split="test", split_file=listing)
    with pytest.raises(DatasetError, match=r"ground truth .*image_02.0000000070\.png .*is missing"):
        reader[0]
    assert reader[1].depth is None


def test_kitti_without_split_file_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="eigen_test_files_with_gt.txt"):
        open_dataset("kitti", tmp_path, split="test")


# ------------------------------------------------------------------------------------ NYU
def test_nyu_official_test_split_in_millimetres(tmp_path: Path) -> None:
    scene = tmp_path / "official_splits" / "test" / "bathroom"
    write_rgb(scene / "rgb_00045.jpg")
    write_png16(scene / "sync_depth_00045.png", np.full((H, W), 2500))
    write_rgb(tmp_path / "official_splits" / "test" / "kitchen" / "rgb_00046.jpg")
    write_png16(tmp_path / "official_splits" / "test" / "kitchen" / "sync_depth_00046.png", np.zeros((H, W)))
    reader = open_dataset("nyu", tmp_path, split="test")
    assert [item.name for item in reader.items] == ["bathroom/rgb_00045", "kitchen/rgb_00046"]
    np.testing.assert_allclose(reader[0].depth, 2.5)
    assert reader[0].valid.all() and not reader[1].valid.any()


def test_nyu_split_file_in_bts_style(tmp_path: Path) -> None:
    """BTS/ZoeDepth lists: paths with a leading "/" relative to the split folder, then the focal length."""
    scene = tmp_path / "sync" / "kitchen_0028b"
    write_rgb(scene / "rgb_00045.jpg")
    write_png16(scene / "sync_depth_00045.png", np.full((H, W), 1250))
    listing = tmp_path / "nyudepthv2_train_files_with_gt.txt"
    listing.write_text("/kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png 518.8579\n")
    reader = open_dataset("nyu", tmp_path, split="train", split_file=listing)
    assert [item.name for item in reader.items] == ["kitchen_0028b/rgb_00045"]
    sample = reader[0]
    np.testing.assert_allclose(sample.depth, 1.25)
    assert sample.valid.all() and sample.meta["focal"] == pytest.approx(518.8579)
    listing.write_text("/kitchen_0028b/rgb_00045.jpg /kitchen_0028b/sync_depth_00045.png f=518\n")
    with pytest.raises(DatasetError, match="focal length 'f=518'"):
        open_dataset("nyu", tmp_path, split="train", split_file=listing)


# ------------------------------------------------------------------------------------ decoding helpers
def test_png16_depth_reads_what_the_writer_stores(tmp_path: Path) -> None:
    depth = ramp(0.0, 60.0)
    save_depth_png16(tmp_path / "d.png", depth, scale=256.0)
    decoded, valid = read_png16_depth(tmp_path / "d.png", scale=256.0)
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, np.round(depth * 256) / 256, rtol=0, atol=1e-6)
    assert not valid[0, 0] and valid.sum() == H * W - 1
    raw = np.full((H, W), 500, np.uint16)
    raw[0] = 65535
    write_png16(tmp_path / "sky.png", raw)
    _, valid = read_png16_depth(tmp_path / "sky.png", scale=100.0, invalid_raw=(0, 65535))
    assert not valid[0].any() and valid[1:].all()
    write_rgb(tmp_path / "eight_bit.png")
    with pytest.raises(ImageReadError, match="eight_bit.png"):
        read_png16_depth(tmp_path / "eight_bit.png", scale=256.0)


def test_mask_images_are_nonzero_pixels(tmp_path: Path) -> None:
    mask = np.zeros((H, W), np.uint8)
    mask[2:5, 3:9] = 255
    assert cv2.imwrite(str(tmp_path / "mask.png"), mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "mask.png"), mask > 0)
    with pytest.raises(ImageReadError, match="absent.png"):
        read_mask(tmp_path / "absent.png")


# ------------------------------------------------------------------------------------ Hypersim
def test_hypersim_distance_becomes_planar_depth(tmp_path: Path) -> None:
    h5py = pytest.importorskip("h5py")
    images = tmp_path / "ai_001_002" / "images"
    (images / "scene_cam_00_final_hdf5").mkdir(parents=True)
    (images / "scene_cam_00_geometry_hdf5").mkdir(parents=True)
    distance = np.full((H, W), 5.0, np.float32)
    distance[1, 1] = np.nan
    with h5py.File(images / "scene_cam_00_geometry_hdf5" / "frame.0000.depth_meters.hdf5", "w") as f:
        f["dataset"] = distance.astype(np.float16)
    with h5py.File(images / "scene_cam_00_final_hdf5" / "frame.0000.color.hdf5", "w") as f:
        f["dataset"] = np.full((H, W, 3), 0.5, np.float16)
    sample = open_dataset("hypersim", tmp_path)[0]
    assert sample.name == "ai_001_002/scene_cam_00/frame.0000"
    assert sample.image.shape == (H, W, 3) and sample.image.dtype == np.uint8
    focal = 886.81 * W / 1024
    corner = 5.0 * focal / np.sqrt(((W - 1) / 2) ** 2 + ((H - 1) / 2) ** 2 + focal**2)
    assert sample.depth[0, 0] == pytest.approx(corner, rel=1e-5)
    assert sample.depth[0, 0] < 5.0
    assert not sample.valid[1, 1] and sample.valid.sum() == H * W - 1


def test_hypersim_tone_mapping_exposes_for_the_geometry_not_the_void(tmp_path: Path) -> None:
    """Half the frame is empty background (render_entity_id −1) rendered very bright: the exposure must
    come from the half that shows geometry, as Hypersim's own tone mapping does."""
    h5py = pytest.importorskip("h5py")
    images = tmp_path / "ai_001_003" / "images"
    (images / "scene_cam_00_final_hdf5").mkdir(parents=True)
    geometry_dir = images / "scene_cam_00_geometry_hdf5"
    geometry_dir.mkdir(parents=True)
    colour = np.full((H, W, 3), 0.2, np.float32)
    colour[:, : W // 2] = 50.0
    entity = np.full((H, W), 7, np.int32)
    entity[:, : W // 2] = -1
    with h5py.File(geometry_dir / "frame.0000.depth_meters.hdf5", "w") as f:
        f["dataset"] = np.full((H, W), 3.0, np.float16)
    with h5py.File(images / "scene_cam_00_final_hdf5" / "frame.0000.color.hdf5", "w") as f:
        f["dataset"] = colour
    before = open_dataset("hypersim", tmp_path)[0].image
    with h5py.File(geometry_dir / "frame.0000.render_entity_id.hdf5", "w") as f:
        f["dataset"] = entity
    after = open_dataset("hypersim", tmp_path)[0].image
    # without the mask the bright void sets the exposure and the scene is nearly black
    assert before[:, W // 2 :].mean() < 40
    # with it the geometry's 90th percentile maps to 0.8 (≈ 204 in 8 bits)
    assert after[:, W // 2 :].mean() == pytest.approx(0.8 * 255, abs=2)


def test_hypersim_conversion_is_identity_on_the_optical_axis() -> None:
    distance = np.full((3, 1024), 7.0, np.float32)  # odd height: the middle row crosses the axis
    depth = hypersim_distance_to_depth(distance)
    centre = 7.0 * 886.81 / np.hypot(0.5, 886.81)  # half a pixel off the axis horizontally
    assert depth[1, 512] == pytest.approx(centre, rel=1e-6)


# ------------------------------------------------------------------------------------ Virtual KITTI 2
def test_vkitti2_centimetres_and_sky(tmp_path: Path) -> None:
    base = tmp_path / "Scene01" / "clone" / "frames"
    write_rgb(base / "rgb" / "Camera_0" / "rgb_00000.jpg")
    raw = np.full((H, W), 1234, np.uint16)
    raw[0, :] = 65535  # sky
    write_png16(base / "depth" / "Camera_0" / "depth_00000.png", raw)
    write_rgb(tmp_path / "Scene01" / "fog" / "frames" / "rgb" / "Camera_0" / "rgb_00000.jpg")
    reader = open_dataset("vkitti2", tmp_path, variations=("clone",))
    assert len(reader) == 1
    sample = reader[0]
    assert sample.name == "Scene01/clone/Camera_0/00000"
    assert sample.depth[5, 5] == pytest.approx(12.34)
    assert not sample.valid[0].any() and sample.valid[1:].all()


# ------------------------------------------------------------------------------------ Sintel
def write_dpt(path: Path, depth: np.ndarray, tag: float = 202021.25) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack("<fii", tag, depth.shape[1], depth.shape[0])
    path.write_bytes(header + depth.astype("<f4").tobytes())


def test_sintel_dpt_depth(tmp_path: Path) -> None:
    write_rgb(tmp_path / "training" / "final" / "alley_1" / "frame_0001.png")
    depth = ramp(0.5, 100.0)
    write_dpt(tmp_path / "training" / "depth" / "alley_1" / "frame_0001.dpt", depth)
    sample = open_dataset("sintel", tmp_path)[0]
    assert sample.name == "alley_1/frame_0001"
    np.testing.assert_array_equal(sample.depth, depth)
    assert sample.valid.all()


def test_sintel_rejects_wrong_tag_and_truncation(tmp_path: Path) -> None:
    write_dpt(tmp_path / "bad.dpt", np.ones((2, 3)), tag=1.0)
    with pytest.raises(DatasetError, match="tag"):
        read_dpt(tmp_path / "bad.dpt")
    write_dpt(tmp_path / "short.dpt", np.ones((2, 3)))
    (tmp_path / "short.dpt").write_bytes((tmp_path / "short.dpt").read_bytes()[:-4])
    with pytest.raises(DatasetError, match="2×3|3×2"):
        read_dpt(tmp_path / "short.dpt")


# ------------------------------------------------------------------------------------ ETH3D
def test_eth3d_raw_float32_with_inf_holes(tmp_path: Path) -> None:
    write_rgb(tmp_path / "courtyard" / "images" / "dslr_images" / "DSC_0286.JPG")
    depth = ramp(1.0, 30.0)
    depth[2, 3] = np.inf
    target = tmp_path / "courtyard" / "ground_truth_depth" / "dslr_images" / "DSC_0286.JPG"
    target.parent.mkdir(parents=True)
    depth.astype("<f4").tofile(target)
    sample = open_dataset("eth3d", tmp_path)[0]
    assert sample.name == "courtyard/DSC_0286"
    assert sample.depth[0, 0] == pytest.approx(1.0)
    assert not sample.valid[2, 3] and sample.valid.sum() == H * W - 1


def test_eth3d_wrong_size_is_a_dataset_error(tmp_path: Path) -> None:
    write_rgb(tmp_path / "s" / "images" / "dslr_images" / "DSC_0001.JPG")
    target = tmp_path / "s" / "ground_truth" / "depth" / "dslr_images" / "DSC_0001.JPG"
    target.parent.mkdir(parents=True)
    np.ones((H, W + 1), "<f4").tofile(target)
    reader = open_dataset("eth3d", tmp_path)
    with pytest.raises(DatasetError, match="expected 768 for the image size 12×16"):
        reader[0]


# ------------------------------------------------------------------------------------ DIODE
def test_diode_npy_depth_and_mask(tmp_path: Path) -> None:
    for kind in ("indoors", "outdoor"):
        scan = tmp_path / "val" / kind / "scene_00019" / "scan_00183"
        write_rgb(scan / f"00019_00183_{kind}_000_010.png")
        np.save(scan / f"00019_00183_{kind}_000_010_depth.npy", np.full((H, W, 1), 3.0, np.float32))
        mask = np.ones((H, W), np.float32)
        mask[:, 0] = 0
        np.save(scan / f"00019_00183_{kind}_000_010_depth_mask.npy", mask)
    reader = open_dataset("diode", tmp_path)
    assert len(reader) == 2
    sample = reader[0]
    assert sample.meta["scene_type"] == "indoors"
    assert sample.depth.shape == (H, W) and sample.depth[0, 1] == 3.0
    assert not sample.valid[:, 0].any() and sample.valid[:, 1:].all()
    assert len(open_dataset("diode", tmp_path, scene_type="outdoor")) == 1


# ------------------------------------------------------------------------------------ generic folders
def test_folder_npy_png_and_missing_depth(tmp_path: Path) -> None:
    write_rgb(tmp_path / "images" / "a.png")
    (tmp_path / "depth").mkdir()
    np.save(tmp_path / "depth" / "a.npy", ramp(1, 2))
    write_rgb(tmp_path / "images" / "sub" / "b.jpg")
    write_png16(tmp_path / "depth" / "sub" / "b.png", np.full((H, W), 1500))
    write_rgb(tmp_path / "images" / "c.png")
    reader = open_dataset("folder", tmp_path)
    assert [item.name for item in reader.items] == ["a", "c", "sub/b"]
    np.testing.assert_array_equal(reader[0].depth, ramp(1, 2))
    assert reader[1].depth is None
    assert reader[2].depth[0, 0] == pytest.approx(1.5)
    assert open_dataset("folder", tmp_path, depth_scale=100.0)[2].depth[0, 0] == pytest.approx(15.0)


def test_unlabeled_images(tmp_path: Path) -> None:
    write_rgb(tmp_path / "x" / "one.png")
    write_rgb(tmp_path / "two.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    reader = open_dataset("images", tmp_path)
    assert [item.name for item in reader.items] == ["two", "x/one"]
    assert reader[0].depth is None and reader[0].valid is None and reader[0].image.shape == (H, W, 3)


def test_missing_layout_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="official_splits"):
        open_dataset("nyu", tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        open_dataset("sintel", tmp_path / "nope")
