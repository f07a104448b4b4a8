"""The README's pictures of each output kind, made by the commands as they are today:
quick-start side by side, colour depth, a video frame pair, a point-cloud rendering.

  python tools/readme_pictures.py --out assets/
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from depth_anything.cli.__main__ import main as cli
from depth_anything.data.sample_photos import shipped_photo_paths
from depth_anything.io import load_image, save_image
from depth_anything.pictures import fit_height, grid, label_picture

REPO = Path(__file__).resolve().parents[1]


def pan_video(photo: np.ndarray, path: Path, frames: int = 30) -> None:
    """A slow pan across `photo` as a short H.264 clip (the video command's input)."""
    import av

    h, w = photo.shape[:2]
    crop_w = int(w * 0.7) // 2 * 2
    crop_h = h // 2 * 2
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = crop_w, crop_h, "yuv420p"
        for i in range(frames):
            left = round((w - crop_w) * i / (frames - 1))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(photo[:crop_h, left:left + crop_w]), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def middle_frame(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[len(frames) // 2]


def render_points(ply: Path, out: Path) -> None:
    """An oblique view of a coloured point cloud (matplotlib, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from plyfile import PlyData

    vertex = PlyData.read(str(ply))["vertex"]
    xyz = np.stack([vertex["x"], vertex["y"], vertex["z"]], axis=1)
    rgb = np.stack([vertex["red"], vertex["green"], vertex["blue"]], axis=1) / 255.0
    fig = plt.figure(figsize=(6, 4.5), dpi=110)
    ax = fig.add_subplot(projection="3d")
    ax.scatter(xyz[:, 0], xyz[:, 2], -xyz[:, 1], c=rgb, s=0.6, linewidths=0)
    ax.view_init(elev=18, azim=-62)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z, forward (m)")
    ax.set_zlabel("up (m)")
    ax.set_title(f"{ply.name}: {len(xyz)} points, metres")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "assets")
    args = parser.parse_args()
    by_stem = {p.stem: p for p in shipped_photo_paths()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        assert cli(["predict", str(REPO / "assets" / "example.png"), "--outdir", str(tmp / "q")]) == 0
        save_image(args.out / "quickstart_side.png", load_image(tmp / "q" / "example_side.png"))
        photos = tmp / "photos"
        photos.mkdir()
        for name in ("coffee", "chelsea", "rocket"):
            (photos / by_stem[name].name).write_bytes(by_stem[name].read_bytes())
        assert cli(["predict", str(photos), "--outdir", str(tmp / "c"), "--formats", "color,side"]) == 0
        cells = [label_picture(fit_height(load_image(p), 200), p.name) for p in sorted((tmp / "c").glob("*_depth.png"))]
        save_image(args.out / "predict_color.png", grid(cells, columns=3))
        pan_video(load_image(by_stem["china"]), tmp / "pan.mp4")
        assert cli(["video", str(tmp / "pan.mp4"), "--outdir", str(tmp / "v")]) == 0
        save_image(args.out / "video_frame.png", middle_frame(tmp / "v" / "pan_side.mp4"))
        assert cli(["pointcloud", str(by_stem["coffee"]), "--outdir", str(tmp / "p"), "--stride", "2"]) == 0
        render_points(next((tmp / "p").glob("*.ply")), args.out / "pointcloud.png")
    subprocess.run([sys.executable, str(REPO / "tools" / "screenshot_app.py"), "--model", "default-metric",
                    "--out", str(args.out / "app_screenshot.png")], check=True)
    print(f"pictures written to {args.out}")


if __name__ == "__main__":
    main()
