"""ONNX export: exact at every size (dynamic position embeddings), normalisation inside the graph, the
input spec in the file, and bad requests refused with what to change."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from model_helpers import randomize_, tiny_config

from depth_anything.cli.__main__ import main
from depth_anything.errors import ExportError
from depth_anything.export import onnx as onnx_export
from depth_anything.export.onnx import export_onnx, export_position_embedding, exportable
from depth_anything.export.verify import compare_with_torch
from depth_anything.inference import OnnxRuntime
from depth_anything.inference.exported import PREFIX
from depth_anything.models import build_model

# export size, non-square, smaller, larger, and the 37×37 pre-training grid (table used unchanged)
SIZES = [(280, 280), (280, 392), (140, 210), (630, 476), (518, 518)]
TOLERANCE = 1e-4  # of the PyTorch output's range, float32
FP16_TOLERANCE = 5e-2  # float16 weights and compute; PyTorch's own fp16 is ~5e-2 off on these random tiny nets


@pytest.mark.parametrize("grid", [37, 6])
@torch.no_grad()
def test_export_position_embedding_is_torch_bicubic_at_every_grid(grid):
    encoder = randomize_(build_model(tiny_config(pretrain_grid=grid)), seed=4).pretrained
    scale = float(encoder.pos_embed.detach().abs().max())
    for grid_h in sorted({1, 2, 5, grid - 1, grid, grid + 1, 23, 50, 81}):
        for grid_w in [1, 3, grid, grid + 2, 44]:
            eager = encoder.position_embedding(grid_h, grid_w, torch.float32)
            exported = export_position_embedding(encoder, grid_h, grid_w, torch.float32)
            assert exported.shape == eager.shape
            if (grid_h, grid_w) == (grid, grid):
                assert torch.equal(exported, eager)
            else:
                assert float((exported - eager).abs().max()) <= 1e-6 * scale, (grid_h, grid_w)


def test_exportable_restores_the_eager_model(relative_model):
    x = torch.randn(1, 3, 140, 182, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = relative_model(x)
        with exportable(relative_model):
            assert "position_embedding" in vars(relative_model.pretrained)
        after = relative_model(x)
    assert "position_embedding" not in vars(relative_model.pretrained)
    assert torch.equal(before, after)


@pytest.mark.parametrize("kind", ["relative", "metric"])
def test_dynamic_export_matches_pytorch_at_every_size(kind, relative_dynamic, metric_dynamic, relative_model, metric_model):
    (path, info), model = (relative_dynamic, relative_model) if kind == "relative" else (metric_dynamic, metric_model)
    onnx.checker.check_model(str(path))
    runtime = OnnxRuntime(path)
    results = compare_with_torch(model, runtime, SIZES, batch=3)  # dynamic batch: traced at 2, run at 3
    worst = {(r.height, r.width): r.max_error for r in results}
    assert all(error < TOLERANCE for error in worst.values()), worst
    assert info.height is None and info.batch is None


def test_metadata_describes_input_and_output(metric_dynamic, metric_model):
    path, _ = metric_dynamic
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props[PREFIX + "input_spec"]) == metric_model.input_spec.to_dict()
    assert json.loads(props[PREFIX + "model_config"]) == json.loads(json.dumps(metric_model.config.to_dict()))
    image = json.loads(props[PREFIX + "input"])
    assert (image["layout"], image["dtype"], image["channels"], image["value_range"]) == ("NCHW", "float32", "RGB", [0.0, 1.0])
    assert (image["height"], image["width"], image["batch"]) == ("dynamic", "dynamic", "dynamic")
    assert "multiples of 14" in image["size_rule"] and image["normalization"]["inside_graph"]
    output = json.loads(props[PREFIX + "output"])
    assert (output["kind"], output["max_depth"], output["layout"]) == ("metric", 20.0, "NHW")
    assert output["unit"].startswith("metres")


def test_static_fp16_export_within_the_looser_bound(exports, relative_model):
    path, info = exports("fp16_static", relative_model, height=196, width=252, fp16=True)
    assert info.precision == "fp16"
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # float32 in and out
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    (result,) = compare_with_torch(relative_model, OnnxRuntime(path), [(196, 252)], batch=1)
    assert result.max_error < FP16_TOLERANCE, result


def test_static_export_is_static(exports, relative_model):
    path, info = exports("static_b2", relative_model, height=140, width=196, batch=2)
    runtime = OnnxRuntime(path)
    assert [d for d in runtime.session.get_inputs()[0].shape] == [2, 3, 140, 196]
    assert (info.height, info.width, info.batch, info.input_spec.input_size) == (140, 196, 2, 140)
    (result,) = compare_with_torch(relative_model, runtime, [(140, 196)], batch=2)
    assert result.max_error < TOLERANCE


def test_sizes_off_the_patch_multiple_are_refused(relative_model, tmp_path):
    with pytest.raises(ExportError, match="not a multiple of the patch size 14; use 504 or 518"):
        export_onnx(relative_model, tmp_path / "m.onnx", input_size=512)
    with pytest.raises(ExportError, match=r"height=H and width=W go together"):
        export_onnx(relative_model, tmp_path / "m.onnx", height=140)
    with pytest.raises(ExportError, match="batch='many': give a positive integer or 'dynamic'"):
        export_onnx(relative_model, tmp_path / "m.onnx", batch="many")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_is_refused_before_exporting(relative_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError, match=r"cannot write .*choose another path \(out=\)"):
        export_onnx(relative_model, blocker / "m.onnx", input_size=140)
    with pytest.raises(ExportError, match="is a folder"):
        export_onnx(relative_model, tmp_path, input_size=140)


def test_a_failed_export_leaves_no_file(relative_model, tmp_path, monkeypatch):
    written = []

    def fail_after_writing(path):
        written.append(path.stat().st_size)  # the model was written in full, then the check fails
        raise ExportError("checker failed (simulated)")

    monkeypatch.setattr(onnx_export, "check_onnx", fail_after_writing)
    out = tmp_path / "sub" / "m.onnx"
    with pytest.raises(ExportError, match="simulated"):
        export_onnx(relative_model, out, input_size=140)
    assert written and written[0] > 0
    assert not out.exists() and list((tmp_path / "sub").iterdir()) == []


def test_cli_refuses_bad_requests_with_what_to_change(tmp_path, capsys):
    assert main(["export", "--model", "no-such-model", "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert main(["export", "--random-weights", "vits", "--format", "onnx", "--out", str(tmp_path / "m.onnx"),
                 "--input-size", "500"]) == 2
    assert "use 490 or 504" in capsys.readouterr().err
    assert main(["export", "--random-weights", "vits", "--format", "nnarchive", "--out", str(tmp_path / "m.tar.xz"),
                 "--dynamic"]) == 2
    assert "static size with batch 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_and_verifies(tmp_path, capsys, relative_model):
    from depth_anything.weights import save_checkpoint

    checkpoint = save_checkpoint(relative_model, tmp_path / "tiny.pt")
    out = tmp_path / "tiny.onnx"
    assert main(["export", "--model", str(checkpoint), "--format", "onnx", "--out", str(out), "--height", "140",
                 "--width", "182", "--verify"]) == 0
    printed = capsys.readouterr().out
    assert "RGB float32 NCHW in [0, 1], 1×3×140×182 (multiples of 14)" in printed
    error = float(printed.split("verify (onnxruntime vs PyTorch): 1×140×182: max ")[1].split(",")[0])
    assert error < TOLERANCE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.onnx", "tiny.pt"]
    assert np.isfinite(error)
