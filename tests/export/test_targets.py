"""`target="rvc2"|"rvc4"`: files Luxonis' converters accept. The rvc2 graph is read by OpenVINO 2022.3.0
exactly (modelconverter's RVC2 toolchain) in its own Python 3.10 environment and compared with PyTorch."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from depth_anything.errors import ExportError
from depth_anything.export.onnx import ImageToDepth, export_onnx, resolve_opset

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "openvino2022_check.py"
VENV = Path(os.environ.get("DEPTH_ANYTHING_OV2022_VENV", Path.home() / ".cache" / "depth_anything" / "venv-ov2022"))
SIZES = ((252, 336), (140, 196))  # two static sizes (patch 14): the rvc2 default and a smaller 3:4 one


def _python310() -> str | None:
    """A Python 3.10 interpreter: pyenv's, or one on PATH."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for candidate in sorted(pyenv.glob("3.10*/bin/python3.10")) + [Path(p) for p in [shutil.which("python3.10")] if p]:
        if candidate.exists():
            return str(candidate)
    return None


@pytest.fixture(scope="session")
def ov2022() -> str:
    """The Python of a venv with openvino==2022.3.0 (made once, cached; .ci/run makes it ahead)."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import openvino.runtime as ov; assert ov.get_version().startswith('2022.3.0')"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    base = _python310()
    if base is None:
        pytest.skip("OpenVINO 2022.3.0 has wheels only for Python <= 3.10 and no Python 3.10 is installed "
                    "(pyenv install 3.10 to run this check)")
    made = subprocess.run([base, "-m", "venv", "--clear", str(VENV)], capture_output=True, text=True)
    installed = made.returncode == 0 and subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "openvino==2022.3.0", "numpy<2"], capture_output=True, text=True,
    )
    if not installed or installed.returncode != 0 or subprocess.run(probe, capture_output=True).returncode != 0:
        detail = made.stderr if made.returncode else getattr(installed, "stderr", "")
        pytest.skip(f"cannot make the OpenVINO 2022.3.0 venv at {VENV}: {detail[-400:]}")
    return str(python)


def _cases(model, folder: Path, size: tuple[int, int]) -> Path:
    """An .npz of a random [0, 1] image and PyTorch's output for it."""
    image = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(size[0]))
    with torch.no_grad():
        depth = ImageToDepth(model).eval()(image).numpy()
    path = folder / f"cases_{size[0]}x{size[1]}.npz"
    np.savez(path, image=image.numpy(), depth=depth)
    return path


def _run_check(python: str, model_file: Path, cases: Path) -> float:
    done = subprocess.run([python, str(CHECK), str(model_file), str(cases)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"OpenVINO 2022.3.0 failed on {model_file}: {done.stderr[-2000:]}"
    assert "openvino 2022.3.0" in done.stdout
    return float(done.stdout.strip().splitlines()[-1].split()[-1])


@pytest.fixture(scope="module")
def rvc2_onnx(relative_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rvc2")
    files = {}
    for height, width in SIZES:
        path = folder / f"rvc2_{height}x{width}.onnx"
        export_onnx(relative_model, path, height=height, width=width, target="rvc2")
        files[(height, width)] = path
    return files


def test_rvc2_graph_is_opset_16_without_layernorm_resize_or_float64(rvc2_onnx):
    proto = onnx.load(str(rvc2_onnx[SIZES[0]]))
    assert [(o.domain, o.version) for o in proto.opset_import] == [("", 16)]
    ops = collections.Counter(node.op_type for node in proto.graph.node)
    assert not {"LayerNormalization", "Resize"} & set(ops)
    assert ops["ReduceMean"] > 0 and ops["MatMul"] > 0
    doubles = [n.name for n in proto.graph.initializer if n.data_type == onnx.TensorProto.DOUBLE]
    casts = [n.name for n in proto.graph.node if n.op_type == "Cast" and n.attribute[0].i == onnx.TensorProto.DOUBLE]
    assert doubles == [] and casts == []
    dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, *SIZES[0]]


def test_rvc2_onnx_and_ir_read_in_openvino_2022_3_0_and_match_pytorch(ov2022, rvc2_onnx, relative_model, tmp_path):
    from depth_anything.export.openvino import onnx_to_openvino

    for size, path in rvc2_onnx.items():
        cases = _cases(relative_model, tmp_path, size)
        assert _run_check(ov2022, path, cases) < 1e-3
        xml = tmp_path / f"{path.stem}.xml"
        onnx_to_openvino(path, xml)
        assert _run_check(ov2022, xml, cases) < 1e-3


def test_rvc2_archive_model_reads_in_openvino_2022_3_0(ov2022, relative_model, tmp_path):
    pytest.importorskip("luxonis_ml", reason="NN Archives need the oak extra: pip install 'depth-anything[oak]'")
    from depth_anything.export.nnarchive import export_nnarchive, read_nnarchive

    out = tmp_path / "rvc2.tar.xz"
    info = export_nnarchive(relative_model, out, target="rvc2")
    assert (info.height, info.width) == (252, 336)
    config, model_bytes = read_nnarchive(out)
    assert config["model"]["heads"][0]["metadata"]["target"] == "rvc2"
    (tmp_path / "m.onnx").write_bytes(model_bytes)
    assert _run_check(ov2022, tmp_path / "m.onnx", _cases(relative_model, tmp_path, (252, 336))) < 1e-3


def test_opset_is_honoured_or_refused_with_the_reason(relative_model, tmp_path):
    assert resolve_opset("rvc2", None) == 16 and resolve_opset("generic", None) == 18 == resolve_opset("rvc4", None)
    with pytest.raises(ExportError, match="opset=16: torch's exporter writes opset 18 or later"):
        export_onnx(relative_model, tmp_path / "g.onnx", opset=16)
    with pytest.raises(ExportError, match="opset=18 for target='rvc2': give 14–17"):
        export_onnx(relative_model, tmp_path / "r.onnx", opset=18, target="rvc2")
    with pytest.raises(ExportError, match="static size with batch 1"):
        export_onnx(relative_model, tmp_path / "r.onnx", dynamic=True, target="rvc2")
    with pytest.raises(ExportError, match="target='rvc3'"):
        export_onnx(relative_model, tmp_path / "r.onnx", target="rvc3")
    assert list(tmp_path.iterdir()) == []
    export_onnx(relative_model, tmp_path / "r14.onnx", input_size=140, opset=14, target="rvc2")
    assert onnx.load(str(tmp_path / "r14.onnx")).opset_import[0].version == 14


def test_rvc4_archive_states_its_precision_and_calibrates_on_real_photos(relative_model, tmp_path):
    pytest.importorskip("luxonis_ml", reason="NN Archives need the oak extra: pip install 'depth-anything[oak]'")
    import cv2

    from depth_anything.export.nnarchive import export_nnarchive, read_nnarchive
    from depth_anything.export.openvino import Int8Options

    out = tmp_path / "rvc4.tar.xz"
    info = export_nnarchive(relative_model, out, target="rvc4", int8=Int8Options(calibration_size=3))
    assert (info.height, info.width) == (420, 560)
    config, _ = read_nnarchive(out)
    assert config["model"]["metadata"]["precision"] == "int8"
    photos = sorted((tmp_path / "rvc4.calibration").iterdir())
    assert len(photos) == 3
    first = cv2.imread(str(photos[0]))
    assert first.shape == (420, 560, 3) and first.std() > 20  # a photo, not a flat or noise-free frame
    half = export_nnarchive(relative_model, tmp_path / "half.tar.xz", target="rvc4", fp16=True, height=140, width=196)
    assert half.precision == "fp32"  # the ONNX stays float32; the converter makes it float16
    assert read_nnarchive(tmp_path / "half.tar.xz")[0]["model"]["metadata"]["precision"] == "float16"
    assert not (tmp_path / "half.calibration").exists()
    with pytest.raises(ExportError, match="exclude each other"):
        export_nnarchive(relative_model, tmp_path / "x.tar.xz", target="rvc4", fp16=True, int8=True)
    with pytest.raises(ExportError, match="target='rvc4'"):
        export_nnarchive(relative_model, tmp_path / "x.tar.xz", target="rvc2", int8=True)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
