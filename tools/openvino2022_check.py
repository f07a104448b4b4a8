"""Read an exported model with OpenVINO 2022.3.0 and compare its CPU output with expected outputs.

Runs in its own Python 3.10 environment (OpenVINO 2022.3.0, the RVC2 toolchain Luxonis' modelconverter
pins, has wheels only up to Python 3.10) with `openvino==2022.3.0` and `numpy<2`; it imports nothing
from this project. Usage:

    python tools/openvino2022_check.py MODEL.onnx|MODEL.xml CASES.npz [CASES.npz ...]

Each .npz holds `image` (the input) and `depth` (the expected output). Prints, per file, the OpenVINO
version, the output shape and the largest error as a fraction of the expected output's range, then
`max_error_of_range <value>` over all files; exits 1 when the model cannot be read or compiled.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    """Compile the model once per input shape and print the errors."""
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    import numpy as np
    from openvino.runtime import Core, get_version

    core = Core()
    print(f"openvino {get_version()}")
    try:
        model = core.read_model(argv[0])
    except Exception as exc:  # OpenVINO raises RuntimeError subclasses; report any as a failed read
        print(f"read_model failed: {exc}", file=sys.stderr)
        return 1
    worst = 0.0
    for cases in argv[1:]:
        data = np.load(cases)
        image, expected = data["image"].astype(np.float32), data["depth"].astype(np.float32)
        try:
            compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        except Exception as exc:  # a refused hint on older CPUs: compile with the defaults
            print(f"note: compiling with an f32 hint failed ({exc}); default settings", file=sys.stderr)
            compiled = core.compile_model(model, "CPU")
        result = compiled.create_infer_request().infer({0: image})
        output = np.asarray(next(iter(result.values())), dtype=np.float32).reshape(expected.shape)
        span = float(expected.max() - expected.min()) or 1.0
        error = float(np.abs(output - expected).max()) / span
        worst = max(worst, error)
        print(f"{cases}: input {tuple(image.shape)} output {tuple(output.shape)} max_error_of_range {error:.3e}")
    print(f"max_error_of_range {worst:.3e}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
