"""Shared exports for the export tests: tiny random models, each exported once per test session
(torch's exporter takes seconds even for a tiny graph)."""

from __future__ import annotations

import pytest
from model_helpers import randomize_, tiny_config

from depth_anything.models import build_model

pytest.importorskip("onnx", reason="ONNX export needs the onnx extra: pip install 'depth-anything[onnx]'")
pytest.importorskip("onnxruntime", reason="ONNX Runtime needs the onnx extra: pip install 'depth-anything[onnx]'")
pytest.importorskip("onnxscript", reason="torch's ONNX exporter needs onnxscript: pip install 'depth-anything[onnx]'")

EXAMPLE_SIZE = 280  # a 20×20 patch grid: the traced example is off the 37×37 pre-training grid


@pytest.fixture(scope="session")
def relative_model():
    return randomize_(build_model(tiny_config()), seed=1).eval()


@pytest.fixture(scope="session")
def metric_model():
    return randomize_(build_model(tiny_config(max_depth=20.0)), seed=2).eval()


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """Lazily made exports by key, so a test pays only for the files it uses."""
    from depth_anything.export.onnx import export_onnx

    folder = tmp_path_factory.mktemp("exports")
    made: dict[str, object] = {}

    def get(key: str, model, **options):
        if key not in made:
            path = folder / f"{key}.onnx"
            made[key] = (path, export_onnx(model, path, source=key, **options))
        return made[key]

    return get


@pytest.fixture(scope="session")
def relative_dynamic(exports, relative_model):
    """Relative tiny model, dynamic batch, height and width (traced at batch 2, 280×280)."""
    return exports("relative_dynamic", relative_model, dynamic=True, batch="dynamic", input_size=EXAMPLE_SIZE)


@pytest.fixture(scope="session")
def metric_dynamic(exports, metric_model):
    return exports("metric_dynamic", metric_model, dynamic=True, batch="dynamic", input_size=EXAMPLE_SIZE)


@pytest.fixture(scope="session")
def archive(tmp_path_factory, metric_model):
    """An NN Archive of the metric tiny model at the default OAK size (252×336)."""
    pytest.importorskip("luxonis_ml", reason="NN Archives need the oak extra: pip install 'depth-anything[oak]'")
    from depth_anything.export.nnarchive import export_nnarchive

    out = tmp_path_factory.mktemp("archive") / "tiny-metric.tar.xz"
    info = export_nnarchive(metric_model, out, source="tiny")
    return out, info
