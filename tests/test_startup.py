"""Start-up cost of the command line: a command imports only its own code, and loading weights does
not first draw random ones."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from depth_anything.weights import load_model


def test_predict_imports_only_what_it_runs(tmp_path):
    photo = tmp_path / "one.png"
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(photo)
    script = (
        "import sys\n"
        "from depth_anything.cli.__main__ import main\n"
        f"code = main(['predict', {str(photo)!r}, '--outdir', {str(tmp_path / 'out')!r}, '--random-weights', 'vitc',"
        " '--input-size', '32'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[:2] in (['depth_anything', 'train'], ['depth_anything', 'eval'],"
        " ['depth_anything', 'export'], ['depth_anything', 'app']) or m in ('gradio', 'transformers', 'onnx', 'openvino'))\n"
        "print('HEAVY', heavy, code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "HEAVY [] 0" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "out" / "one_side.png").is_file()


def test_help_still_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "depth_anything.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("predict", "train", "eval", "export", "video", "app"):
        assert command in done.stdout


def test_loading_weights_skips_the_random_initialisation(monkeypatch):
    calls = []
    real = torch.nn.init.trunc_normal_
    monkeypatch.setattr(torch.nn.init, "trunc_normal_", lambda tensor, *a, **k: calls.append(1) or real(tensor, *a, **k))
    model = load_model()  # the built-in default model
    assert calls == []
    reference = load_model()
    for (name, value), (_, other) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(value, other), name  # loaded, not drawn


_ALLOCATOR_PROBE = """
import ctypes, sys
import numpy as np
from depth_anything.cli.__main__ import main
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                                                "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
argv = ["predict", sys.argv[1], "--outdir", sys.argv[2]]
if sys.argv[3] == "entry":
    sys.argv = ["depth-anything", *argv]
    code = main()
else:
    code = main(argv)
before = libc.mallinfo2()
block = np.ones(1 << 24)  # 128 MiB: above glibc's largest mmap threshold
held = libc.mallinfo2()
del block
freed = libc.mallinfo2()
print("CODE", code, "MMAPPED", (held.hblkhd - before.hblkhd) >> 20, "KEPT", freed.fordblks >> 20)
"""


def _glibc_mallinfo2() -> bool:
    import ctypes

    try:
        return sys.platform.startswith("linux") and hasattr(ctypes.CDLL(None), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not _glibc_mallinfo2(), reason="glibc's allocator only (mallinfo2 needs glibc 2.33)")
def test_command_keeps_freed_memory_for_reuse_and_a_host_program_keeps_its_allocator(tmp_path):
    """As the process's entry point the command makes glibc keep large freed blocks in the heap (no mmap
    per block, no unmapping on free); called from another program it leaves that program's allocator alone."""
    photo = tmp_path / "one.png"
    Image.fromarray(np.zeros((32, 48, 3), np.uint8)).save(photo)
    outputs = {}
    for mode in ("entry", "called"):
        done = subprocess.run([sys.executable, "-c", _ALLOCATOR_PROBE, str(photo), str(tmp_path / mode), mode],
                              capture_output=True, text=True, check=True)
        outputs[mode] = done.stdout.split("CODE", 1)[1].split()
    assert outputs["entry"][0] == outputs["called"][0] == "0"
    assert int(outputs["entry"][2]) == 0 and int(outputs["entry"][4]) >= 128, outputs  # in the heap, kept on free
    assert int(outputs["called"][2]) >= 128 and int(outputs["called"][4]) < 128, outputs  # glibc's default: mmapped
