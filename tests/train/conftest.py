"""Fixtures of the training tests (helpers live in train_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 samples of the project's synthetic format at 40×40 (22 train, 2 val), written once."""
    from depth_anything.data.synthetic import SynthConfig
    from depth_anything.data.synthetic_io import write_dataset

    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 24, seed=3, config=SynthConfig(width=40, height=40))
    return root
