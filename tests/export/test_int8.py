"""INT8 OpenVINO export (NNCF post-training quantization): the file says int8 and holds quantization
nodes that the CPU runs as int8 kernels, the built-in default model's int8 depth agrees with fp32 on a
real photo, calibration is prepared like the runtime's input, the command line and the API refuse what
they cannot make, and no telemetry is sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import FrozenInstanceError
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino", reason="OpenVINO needs the openvino extra: pip install 'depth-anything[openvino]'")
pytest.importorskip("nncf", reason="int8 export needs nncf (the openvino extra): pip install 'depth-anything[openvino]'")

from depth_anything.cli.__main__ import main  # noqa: E402
from depth_anything.data.sample_photos import shipped_photo_paths  # noqa: E402
from depth_anything.errors import ExportError  # noqa: E402
from depth_anything.export.openvino import Int8Options, check_int8_options, export_openvino  # noqa: E402
from depth_anything.export.quantize import (  # noqa: E402
    DEFAULT_CALIBRATION_SIZE,
    DEFAULT_PRESET,
    calibration_inputs,
    calibration_photos,
    depth_agreement,
    quantize_op_count,
)
from depth_anything.inference import OpenVINORuntime, Predictor  # noqa: E402
from depth_anything.io import load_image, save_image  # noqa: E402
from depth_anything.loading import open_predictor  # noqa: E402
from depth_anything.transforms import preprocess  # noqa: E402

SIZE = 140  # 10×10 patches for the tiny patch-14 model
# The built-in model at 128×128 with 8 calibration inputs, on the square crop of the first shipped photo
# (astronaut), measured aligned AbsRel 0.008 and δ1 1.000 against fp32 PyTorch (all eight photos:
# 0.006-0.022, δ1 1.000); a graph that runs wrongly (as OpenVINO's dynamic-shape int8 graphs do) measures 0.3-0.6.
DEFAULT_ABS_REL_BOUND = 0.04
DEFAULT_D1_BOUND = 0.99


def _photo_folder(folder: Path, count: int = 3) -> Path:
    """Generated images with some structure (gradients, a disc), not noise: what a user folder holds."""
    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:90, 0:120]
    for k in range(count):
        disc = ((yy - 30 - 10 * k) ** 2 + (xx - 60) ** 2 < 400)[..., None]
        rgb = np.stack([xx * 2, yy * 2, (xx + yy + 40 * k) % 256], axis=-1) * (1 - disc) + 200 * disc
        save_image(folder / f"img{k}.png", rgb.astype(np.uint8))
    return folder


@pytest.fixture(scope="module")
def int8_ir(tmp_path_factory, relative_model):
    out = tmp_path_factory.mktemp("int8") / "tiny_int8.xml"
    info = export_openvino(relative_model, out, input_size=SIZE, int8=Int8Options(calibration_size=4), source="tiny")
    return out, info


def test_int8_ir_says_int8_and_holds_quantization_nodes(int8_ir):
    import openvino

    out, info = int8_ir
    assert info.precision == "int8" and (info.height, info.width, info.batch) == (SIZE, SIZE, 1)
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny_int8.bin", "tiny_int8.xml"]
    ov_model = openvino.Core().read_model(str(out))
    types = {op.get_type_name() for op in ov_model.get_ops()}
    assert types & {"FakeQuantize", "FakeConvert"}, sorted(types)
    assert quantize_op_count(ov_model) >= 4
    runtime = OpenVINORuntime(out)
    assert runtime.info == info and runtime.precision == "f32"
    assert "int8" in repr(runtime)


def test_int8_ir_runs_int8_kernels_under_the_f32_hint(int8_ir):
    runtime = OpenVINORuntime(int8_ir[0])
    assert "float32" in str(runtime.compiled.get_property("INFERENCE_PRECISION_HINT"))
    precisions = {}
    for op in runtime.compiled.get_runtime_model().get_ops():
        rt = op.get_rt_info()
        if "layerType" in rt and "runtimePrecision" in rt:
            precisions.setdefault(rt["layerType"].astype(str), set()).add(rt["runtimePrecision"].astype(str).lower())
    int8_layers = {layer for layer, kinds in precisions.items() if kinds & {"i8", "u8"}}
    assert int8_layers & {"FullyConnected", "Convolution", "MatMul"}, precisions


def test_default_model_int8_agrees_with_fp32_on_a_shipped_photo(tmp_path):
    from depth_anything import load_model

    photos = calibration_photos()
    if not photos:
        pytest.skip("no shipped photo installed (scikit-image, scikit-learn, matplotlib)")
    model = load_model(device="cpu")
    side = model.input_spec.input_size
    out = tmp_path / "default_int8.xml"
    export_openvino(model, out, int8=Int8Options(calibration_size=8))
    predictor = open_predictor(out, backend="openvino")
    assert predictor.runtime.info.precision == "int8"
    rgb = load_image(photos[0])
    square = min(rgb.shape[:2])
    rgb = np.ascontiguousarray(rgb[:square, :square])
    reference = Predictor(model).predict_one(rgb)
    got = predictor.predict_one(rgb)
    assert got.shape == reference.shape == rgb.shape[:2]
    agreement = depth_agreement(reference, got)
    assert agreement["abs_rel"] < DEFAULT_ABS_REL_BOUND and agreement["d1"] > DEFAULT_D1_BOUND, (side, agreement)


def test_calibration_inputs_are_the_runtimes_input(tmp_path, int8_ir):
    info = int8_ir[1]
    folder = _photo_folder(tmp_path / "photos", count=2)
    photos = calibration_photos(folder)
    inputs = calibration_inputs(photos, info, count=7)
    assert len(inputs) == 7 and all(x.shape == (1, 3, SIZE, SIZE) and x.dtype == np.float32 for x in inputs)
    # RGB in [0, 1] (bicubic resizing overshoots a little), not mean/std-normalised: the graph normalises
    assert all(-0.2 < float(x.min()) and float(x.max()) < 1.2 for x in inputs)
    rgb = load_image(photos[0])
    centre = rgb[:, 15:105]  # 90×120 → the largest centred square
    np.testing.assert_array_equal(inputs[0][0], preprocess(centre, info.input_spec.with_input_size(SIZE), normalize_input=False))
    np.testing.assert_array_equal(inputs[1][0], preprocess(np.ascontiguousarray(centre[:, ::-1]), info.input_spec.with_input_size(SIZE),
                                                           normalize_input=False))
    assert len({x.tobytes() for x in inputs}) == 7  # crops, not copies


def test_calibration_from_a_user_folder_and_a_bad_path(tmp_path, relative_model):
    folder = _photo_folder(tmp_path / "mine")
    out = tmp_path / "m.xml"
    info = export_openvino(relative_model, out, height=SIZE, width=182, int8=Int8Options(folder, 3))
    assert info.precision == "int8" and (info.height, info.width) == (SIZE, 182)
    images = [np.asarray(load_image(p)) for p in sorted(folder.iterdir())]
    maps = open_predictor(out, backend="openvino").predict([np.ascontiguousarray(i[:, :117]) for i in images])  # 90:117 = 140:182
    assert all(m.shape == (90, 117) and np.isfinite(m).all() for m in maps)
    missing = tmp_path / "no-such-folder"
    with pytest.raises(ExportError, match=str(missing)):
        export_openvino(relative_model, tmp_path / "n.xml", input_size=SIZE, int8=Int8Options([folder, missing]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="names no image"):
        export_openvino(relative_model, tmp_path / "n.xml", input_size=SIZE, int8=Int8Options(tmp_path / "empty"))
    assert not (tmp_path / "n.xml").exists()


def test_api_refuses_what_int8_cannot_make(tmp_path, relative_model):
    out = tmp_path / "m.xml"
    with pytest.raises(ExportError, match="int8=True and fp16=True exclude each other"):
        export_openvino(relative_model, out, int8=True, fp16=True)
    with pytest.raises(ExportError, match="static files only"):
        export_openvino(relative_model, out, int8=True, dynamic=True)
    with pytest.raises(ExportError, match="static files only"):
        export_openvino(relative_model, out, int8=True, batch="dynamic")
    with pytest.raises(TypeError, match=r"int8=Int8Options\(calibration=\.\.\.\)"):
        export_openvino(relative_model, out, calibration=tmp_path)  # the settings' old keywords
    with pytest.raises(ExportError, match="preset"):
        export_openvino(relative_model, out, int8=Int8Options(preset="fastest"))
    with pytest.raises(ExportError, match="calibration_size=0: give at least 1"):
        export_openvino(relative_model, out, int8=Int8Options(calibration_size=0))
    with pytest.raises(TypeError, match="Int8Options"):
        export_openvino(relative_model, out, int8="yes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_int8_options_true_means_the_defaults_and_the_photos_come_back_resolved(tmp_path):
    assert Int8Options() == Int8Options(None, DEFAULT_CALIBRATION_SIZE, DEFAULT_PRESET)
    with pytest.raises(FrozenInstanceError):
        Int8Options().calibration_size = 1  # type: ignore[misc]
    assert check_int8_options(False, False) is None
    folder = _photo_folder(tmp_path / "mine", count=2)
    settings = check_int8_options(False, Int8Options(folder, 5, "performance"))
    assert settings == Int8Options(tuple(calibration_photos(folder)), 5, "performance")
    if shipped_photo_paths():  # True: the defaults, calibrated on the shipped photos
        assert check_int8_options(False, True) == Int8Options(tuple(shipped_photo_paths()))


def test_cli_int8_export_then_predict(tmp_path, capsys, relative_model):
    from depth_anything.weights import save_checkpoint

    checkpoint = save_checkpoint(relative_model, tmp_path / "tiny.pt")
    out = tmp_path / "tiny_int8.xml"
    folder = _photo_folder(tmp_path / "photos", count=2)
    assert main(["export", "--model", str(checkpoint), "--format", "openvino", "--out", str(out), "--input-size", str(SIZE),
                 "--int8", "--calibration", str(folder), "--calibration-size", "2"]) == 0
    assert "1×3×140×140" in capsys.readouterr().out and out.is_file()
    image = tmp_path / "square.png"
    save_image(image, load_image(folder / "img0.png")[:, :90])
    assert main(["predict", str(image), "--backend", "openvino", "--model", str(out), "--outdir", str(tmp_path / "pred"),
                 "--formats", "npy"]) == 0
    depth = np.load(tmp_path / "pred" / "square.npy")
    assert depth.shape == (90, 90) and np.isfinite(depth).all()


def test_cli_refuses_int8_for_other_formats_and_with_fp16(tmp_path, capsys):
    base = ["export", "--random-weights", "vits", "--out"]
    assert main([*base, str(tmp_path / "m.onnx"), "--format", "onnx", "--int8"]) == 2
    assert "--int8 is for --format openvino" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "m.tar.xz"), "--format", "nnarchive", "--int8"]) == 2
    assert "--int8 is for --format openvino" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "m.xml"), "--format", "openvino", "--int8", "--fp16"]) == 2
    assert "--int8 and --fp16 exclude each other" in capsys.readouterr().err
    assert main([*base, str(tmp_path / "m.xml"), "--format", "openvino", "--calibration", str(tmp_path)]) == 2
    assert "go with --int8" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


TELEMETRY_CHECK = r"""
import json, os, sys
from pathlib import Path
import openvino  # OpenVINO's own import already makes the telemetry singleton and sends an import event
import openvino_telemetry
calls = []

def recorder(name):
    def call(self, *args, **kwargs):
        calls.append(name)
    return call

for name in ("__init__", "init", "send_event", "start_session", "end_session", "send_error", "send_stack_trace"):
    if hasattr(openvino_telemetry.Telemetry, name):
        setattr(openvino_telemetry.Telemetry, name, recorder(name))
sys.path.insert(0, sys.argv[1])
from model_helpers import tiny_config
from depth_anything.export.openvino import Int8Options, export_openvino
from depth_anything.models import build_model
assert "pytest" not in sys.modules and "nncf" not in sys.modules  # NNCF stubs its telemetry under pytest
home = Path(os.environ["HOME"])
before = sorted(map(str, home.rglob("*")))
export_openvino(build_model(tiny_config()).eval(), sys.argv[2], input_size=140, int8=Int8Options(calibration_size=2))
print(json.dumps({"calls": calls, "written": sorted(set(map(str, home.rglob("*"))) - set(before))}))
"""


def test_int8_export_sends_no_telemetry(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NNCF_CI", "NNCF_DEV")}
    env.update(HOME=str(home), USERPROFILE=str(home))
    result = subprocess.run([sys.executable, "-c", TELEMETRY_CHECK, str(Path(__file__).parents[1]), str(tmp_path / "m.xml")],
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"calls": [], "written": []}  # NNCF made no telemetry call and wrote no client id
    assert (tmp_path / "m.xml").is_file()
