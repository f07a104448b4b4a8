"""The pseudo-label format: labels written by `data.pseudo` read back through the reader registry,
in a fresh interpreter that never imports the training package."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from depth_anything.data.pseudo import label_path, write_label, write_manifest
from depth_anything.io import save_image


def _pseudo_folder(tmp_path: Path, encoding: str) -> tuple[Path, dict[str, np.ndarray]]:
    """Two images and their labels, as `depth-anything label` leaves them."""
    images, out = tmp_path / "images", tmp_path / "pseudo"
    rng = np.random.default_rng(0)
    disparities = {}
    for name in ("a.png", "sub/b.png"):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        save_image(images / name, rng.integers(0, 255, (10, 14, 3), dtype=np.uint8))
        disparity = np.linspace(0.5, 2.0, 10 * 14).reshape(10, 14)
        write_label(label_path(out, Path(name), encoding), disparity, encoding)
        disparities[name] = disparity / disparity.max()
    write_manifest(out, images, encoding, {"model": "test"})
    return out, disparities


@pytest.mark.parametrize("encoding", ["npy16", "png16"])
def test_open_dataset_reads_pseudo_labels_without_importing_the_trainer(tmp_path: Path, encoding: str) -> None:
    out, disparities = _pseudo_folder(tmp_path, encoding)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from depth_anything.data.datasets import open_dataset

        reader = open_dataset("pseudo", {str(out)!r})
        samples = [reader[i] for i in range(len(reader))]
        assert sorted(s.name for s in samples) == ["a.png", "sub/b.png"], [s.name for s in samples]
        for s in samples:
            assert s.depth_kind == "disparity" and s.depth.shape == s.image.shape[:2] == (10, 14)
            assert s.valid.all() and abs(float(s.depth.max()) - 1.0) < 1e-3
        np.save({str(tmp_path / "read.npy")!r}, samples[0].depth)
        loaded = sorted(m for m in sys.modules if m.startswith("depth_anything.train"))
        assert loaded == [], loaded
        print("read", len(samples))
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "read 2" in result.stdout
    np.testing.assert_allclose(np.load(tmp_path / "read.npy"), disparities["a.png"], atol=1e-3)
