"""Luxonis NN Archive: contents, luxonis-ml schema validation, preprocessing that matches the graph,
and DepthAI's own archive reader."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import onnx
import pytest
import torch

pytest.importorskip("luxonis_ml", reason="NN Archives need the oak extra: pip install 'depth-anything[oak]'")

from depth_anything.errors import ExportError  # noqa: E402
from depth_anything.export.nnarchive import (  # noqa: E402
    NNARCHIVE_SIZE,
    export_nnarchive,
    nnarchive_config,
    read_nnarchive,
    validate_config,
)
from depth_anything.inference import OnnxRuntime  # noqa: E402
from depth_anything.inference.exported import ExportedModelInfo  # noqa: E402
from depth_anything.transforms import resize_depth  # noqa: E402


def test_archive_contents(archive):
    out, info = archive
    assert (info.height, info.width, info.batch) == (*NNARCHIVE_SIZE, 1) == (252, 336, 1)
    with tarfile.open(out) as tar:
        assert sorted(tar.getnames()) == ["config.json", "depth_anything.onnx"]
    config, model_bytes = read_nnarchive(out)
    validate_config(config)
    model = config["model"]
    (image,) = model["inputs"]
    assert (image["name"], image["dtype"], image["layout"], image["shape"]) == ("image", "float32", "NCHW", [1, 3, 252, 336])
    pre = image["preprocessing"]
    assert (pre["mean"], pre["scale"], pre["dai_type"], pre["resize_mode"]) == ([0, 0, 0], [255, 255, 255], "RGB888p", "STRETCH")
    assert model["outputs"] == [{"name": "depth", "dtype": "float32", "shape": [1, 252, 336], "layout": "NHW"}]
    (head,) = model["heads"]
    assert (head["parser"], head["outputs"], head["metadata"]["output_kind"]) == ("MapOutputParser", ["depth"], "metric")
    assert head["metadata"]["min_max_scaling"] is False and head["metadata"]["max_depth"] == 20.0
    assert model["metadata"]["path"] == "depth_anything.onnx"
    graph = onnx.load_from_string(model_bytes)
    onnx.checker.check_model(graph)
    dims = [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 252, 336]
    props = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(props["depth_anything.input_spec"])["input_size"] == 252


def test_archive_preprocessing_matches_the_graph(archive, metric_model, tmp_path):
    """A camera frame with the archive's (x - mean) / scale, through the archive's ONNX, is PyTorch's
    prediction for the same [0, 1] image."""
    from depth_anything.export.depthai import ArchiveModel, archive_input, archive_model

    out, _ = archive
    described = archive_model(out)
    assert described == ArchiveModel(metric_model.input_spec.with_input_size(252), 252, 336)
    _, model_bytes = read_nnarchive(out)
    (tmp_path / "m.onnx").write_bytes(model_bytes)
    frame = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    x = archive_input(frame, described)
    assert x.shape == (1, 3, 252, 336) and 0 <= x.min() and x.max() <= 1
    got = OnnxRuntime(tmp_path / "m.onnx").run(x)
    spec = metric_model.input_spec
    normalised = (torch.from_numpy(x) - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = metric_model(normalised).numpy()
    assert isinstance(got, np.ndarray)
    assert float(np.abs(got - expected).max()) < 1e-4 * float(expected.max() - expected.min())
    assert resize_depth(got, (480, 640)).shape == (1, 480, 640)


def test_depthai_reads_the_archive(archive):
    dai = pytest.importorskip("depthai", reason="DepthAI needs the oak extra: pip install 'depth-anything[oak]'")
    parsed = dai.NNArchive(str(archive[0]))
    assert tuple(parsed.getInputSize()) == (336, 252)  # DepthAI's (width, height)


def test_schema_refuses_a_broken_config(archive):
    info = archive[1]
    config = nnarchive_config(info, "x")
    config["model"]["inputs"][0]["layout"] = "NCH"  # three letters for a 4-D shape
    with pytest.raises(ExportError, match="(?s)does not validate.*Layout and shape must have the same length"):
        validate_config(config)
    dynamic = ExportedModelInfo(info.input_spec, info.model_config, None, None, None)
    with pytest.raises(ExportError, match="static model with batch 1"):
        nnarchive_config(dynamic, "x")


def test_bad_archive_requests(metric_model, tmp_path):
    with pytest.raises(ExportError, match=r"\.tar\.xz or \.tar\.gz"):
        export_nnarchive(metric_model, tmp_path / "m.zip")
    with pytest.raises(ExportError, match="not a multiple of the patch size"):
        export_nnarchive(metric_model, tmp_path / "m.tar.gz", height=250, width=336)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "junk.tar.xz").write_bytes(b"not a tar")
    with pytest.raises(ExportError, match="not a readable NN Archive"):
        read_nnarchive(tmp_path / "junk.tar.xz")


def test_default_archive_size_follows_the_patch_size(tmp_path):
    from model_helpers import randomize_, tiny_config

    from depth_anything.models import build_model

    model = randomize_(build_model(tiny_config(patch_size=16, pretrain_grid=6)), seed=5).eval()
    info = export_nnarchive(model, tmp_path / "p16.tar.gz")
    assert (info.height, info.width) == (18 * 16, 24 * 16)
    assert read_nnarchive(tmp_path / "p16.tar.gz")[0]["model"]["inputs"][0]["shape"] == [1, 3, 288, 384]
