"""Fixtures of the training tests (helpers live in train_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine spinning threads stall;
    the subprocesses these tests start get OMP_NUM_THREADS=1 as well. Restored afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 samples of the project's synthetic format at 40×40 (22 train, 2 val), written once."""
    from depth_anything.data.synthetic import SynthConfig, write_dataset

    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 24, seed=3, config=SynthConfig(width=40, height=40))
    return root


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real photos shipped with scikit-image (on disk, no download), one in a sub-folder."""
    import shutil

    import skimage.data

    source = Path(skimage.data.__file__).parent
    names = [n for n in ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "camera.png")
             if (source / n).is_file()]
    if len(names) < 3:
        pytest.fail(f"scikit-image ships too few photos in {source}: {names}")
    root = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(names):
        target = root / ("outdoor" if i % 2 else "") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, target)
    return root
