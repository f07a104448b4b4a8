"""OpenVINO IR export and runtime: same tolerance as ONNX Runtime at every size, f32 inference unless
asked, and no telemetry sent."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openvino", reason="OpenVINO needs the openvino extra: pip install 'depth-anything[openvino]'")

from depth_anything.errors import ExportError  # noqa: E402
from depth_anything.export.verify import compare_with_torch  # noqa: E402
from depth_anything.inference import OpenVINORuntime, Predictor  # noqa: E402
from depth_anything.loading import open_predictor  # noqa: E402

SIZES = [(280, 280), (280, 392), (140, 210), (630, 476), (518, 518)]


@pytest.fixture(scope="module")
def ir(tmp_path_factory, relative_model):
    """IR export with every telemetry entry point made to fail: the export must not reach any."""
    import openvino_telemetry

    from depth_anything.export.openvino import export_openvino

    def no_telemetry(*args, **kwargs):
        raise AssertionError("OpenVINO telemetry was called")

    patched = pytest.MonkeyPatch()
    for name in ("__init__", "send_event", "start_session", "end_session", "send_error", "send_stack_trace"):
        if hasattr(openvino_telemetry.Telemetry, name):
            patched.setattr(openvino_telemetry.Telemetry, name, no_telemetry)
    try:
        out = tmp_path_factory.mktemp("ir") / "tiny.xml"
        info = export_openvino(relative_model, out, dynamic=True, batch="dynamic", input_size=280)
    finally:
        patched.undo()
    return out, info


def test_ir_files_and_metadata(ir):
    out, info = ir
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.bin", "tiny.xml"]
    runtime = OpenVINORuntime(out)
    assert runtime.info == info and runtime.input_spec.output == "disparity"


def test_ir_matches_pytorch_at_every_size_in_f32(ir, relative_model, monkeypatch):
    import openvino

    asked = []
    compile_model = openvino.Core.compile_model

    def recording(self, model, device=None, config=None):
        asked.append(dict(config or {}))
        return compile_model(self, model, device, config)

    monkeypatch.setattr(openvino.Core, "compile_model", recording)
    runtime = OpenVINORuntime(ir[0])
    assert asked[-1]["INFERENCE_PRECISION_HINT"] == "f32"  # asked for, not left to the CPU's bf16 default
    assert "float32" in str(runtime.compiled.get_property("INFERENCE_PRECISION_HINT"))
    assert OpenVINORuntime(ir[0], dtype="bf16").precision == "bf16" and asked[-1]["INFERENCE_PRECISION_HINT"] == "bf16"
    results = compare_with_torch(relative_model, runtime, SIZES, batch=3)
    assert all(r.max_error < 1e-4 for r in results), [str(r) for r in results]


def test_openvino_runs_the_onnx_file_too(metric_dynamic, metric_model):
    runtime = OpenVINORuntime(metric_dynamic[0])
    results = compare_with_torch(metric_model, runtime, [(280, 392), (518, 518)], batch=2)
    assert all(r.max_error < 1e-4 for r in results), [str(r) for r in results]


def test_predictor_on_openvino_matches_torch(ir, relative_model):
    images = [np.random.default_rng(i).integers(0, 256, (80 + 20 * i, 120, 3), dtype=np.uint8) for i in range(3)]
    expected = Predictor(relative_model, input_size=140).predict(images)
    got = open_predictor(ir[0], backend="openvino", input_size=140).predict(images)
    for e, g in zip(expected, got, strict=True):
        assert float(np.abs(e - g).max()) <= 1e-4 * float(e.max() - e.min())


def test_openvino_bad_requests(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"0")
    with pytest.raises(ExportError, match=r"runs \.xml or \.onnx files"):
        open_predictor(tmp_path / "x.bin", backend="openvino")
    from depth_anything.export.openvino import export_openvino

    with pytest.raises(ExportError, match=r"an OpenVINO IR is an \.xml file .*got out=.*m\.onnx"):
        export_openvino(None, tmp_path / "m.onnx")  # type: ignore[arg-type]


def test_one_runtime_answers_several_threads_at_once(ir):
    """A server warms a model up while batches arrive: one OpenVINO infer request must not be entered twice."""
    from concurrent.futures import ThreadPoolExecutor

    runtime = OpenVINORuntime(ir[0])
    batches = [np.random.default_rng(seed).random((1, 3, 112, 112), dtype=np.float32) for seed in range(4)]
    alone = [runtime.run(batch) for batch in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(runtime.run, batches * 6))
    for index, out in enumerate(together):
        np.testing.assert_array_equal(out, alone[index % 4])
