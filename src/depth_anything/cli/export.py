"""Export a model to ONNX, OpenVINO IR or a Luxonis NN Archive (OAK cameras), exact at every input size.

The exported graph includes the normalisation: its input is an RGB image, float32 NCHW with values in
[0, 1], height and width multiples of the patch size (14 for the published models, 16 for the built-in
ones); its output is float32 [B, H, W] at the input's size (relative disparity, or metres for metric
models). This, the input spec and the model config are written into the file, and `--backend
onnxruntime|openvino` of predict/eval/video/app reads them back. Static at the model's input size
unless --dynamic; OpenVINO runs in f32 unless --dtype asks otherwise (its bf16 default on some CPUs
moves depth maps by about 0.3). `--format openvino --int8` quantizes the IR with NNCF (post-training,
calibrated on real photos; static files only).

`--target` says where the file runs: generic (any runtime), rvc2 (OAK with a Myriad X: the static
opset-16 graph OpenVINO 2022.3.0 reads, for Luxonis' modelconverter) or rvc4 (OAK4: static, batch 1; an
NN Archive states int8 with real calibration photos written beside it, or float16 with --fp16).
"""

from __future__ import annotations

import argparse
import sys

from .options import IntAtLeast, add_model_option, add_out_option, add_random_weights_option, set_examples

EXAMPLES = """\
examples:
  depth-anything export --model vits --format onnx --out vits.onnx --dynamic --batch dynamic --verify
  depth-anything export --model metric-hypersim-vitl --format onnx --out indoor.onnx --height 518 --width 686
  depth-anything export --model vits --format onnx --out vits_fp16.onnx --fp16 --dynamic
  depth-anything export --model vits --format openvino --out vits.xml --dynamic     # writes vits.xml + vits.bin
  depth-anything export --format openvino --out default_int8.xml --int8            # built-in model, NNCF int8
  depth-anything export --model vits --format openvino --out vits_int8.xml --int8 --calibration photos/ --calibration-size 64
  depth-anything export --model vits --format nnarchive --out vits.tar.xz           # OAK: static 252x336
  depth-anything export --model vits --format nnarchive --target rvc2 --out vits_rvc2.tar.xz   # 252x336, opset 16
  depth-anything export --model vits --format nnarchive --target rvc4 --out vits_rvc4.tar.xz   # 420x560, int8 photos
  depth-anything export --model vits --format nnarchive --target rvc4 --fp16 --out vits_rvc4_fp16.tar.xz
  depth-anything predict photo.jpg --backend onnxruntime --model vits.onnx
  depth-anything predict photo.jpg --backend openvino --model default_int8.xml
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `depth-anything export`."""
    from ..export import DEFAULT_OPSET, FORMATS, RVC2_OPSET, RVC2_OPSETS, TARGETS
    from ..export.quantize import DEFAULT_CALIBRATION_SIZE

    set_examples(parser, EXAMPLES)
    add_model_option(parser, default="the small built-in model", files="a checkpoint")
    add_random_weights_option(parser)
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="onnx (.onnx), openvino (.xml + .bin) or nnarchive (.tar.xz/.tar.gz for DepthAI/OAK)")
    add_out_option(parser, required=True, help="output file: the exported model")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--input-size", type=IntAtLeast(1), default=None,
                      help="network input size (here the square static size N×N, a multiple of the patch size; "
                      "default: the model's own, 518 for the published ones; nnarchive: 18×24 patches, 252×336 at patch 14 "
                      "(288×384 at the built-in models' patch 16), with --target rvc4 30×40 patches, 420×560; with "
                      "--dynamic, the traced example's size)")
    size.add_argument("--height", type=IntAtLeast(1), help="static height (with --width), a multiple of the patch size")
    parser.add_argument("--width", type=IntAtLeast(1), help="static width (with --height), a multiple of the patch size")
    parser.add_argument("--dynamic", action="store_true", help="dynamic height and width (any multiples of the patch size)")
    parser.add_argument("--batch", default="1", help="batch size N, or 'dynamic' (default 1)")
    parser.add_argument("--target", choices=TARGETS, default="generic",
                        help="where the file runs: generic (any runtime), rvc2 (OAK Myriad X via modelconverter and "
                        "OpenVINO 2022.3.0: static, opset 16, LayerNorm and resizes as primitive ops) or rvc4 (OAK4 "
                        "via modelconverter: static; nnarchive states int8 and writes real calibration photos "
                        "beside it, or float16 with --fp16); default %(default)s")
    parser.add_argument("--opset", type=IntAtLeast(7), default=None,
                        help=f"ONNX opset (default {DEFAULT_OPSET}; {RVC2_OPSET} with --target rvc2, which takes "
                        f"{RVC2_OPSETS[0]}-{RVC2_OPSETS[-1]}; others take {DEFAULT_OPSET} or later)")
    parser.add_argument("--fp16", action="store_true",
                        help="float16 weights and compute (input and output stay float32)")
    parser.add_argument("--int8", action="store_true",
                        help="openvino: quantize to int8 with NNCF (post-training; static size and batch); nnarchive "
                        "--target rvc4: state int8 and write calibration photos (its default); both calibrated on "
                        "real photos (default: those scikit-image, scikit-learn, matplotlib ship)")
    parser.add_argument("--calibration", nargs="+", metavar="PATH",
                        help="with --int8: calibration images (files, folders, list files or glob patterns)")
    parser.add_argument("--calibration-size", type=IntAtLeast(1), default=None, metavar="N",
                        help="with --int8: calibration inputs made from the photos (full frames, mirror images, "
                        f"random crops; default {DEFAULT_CALIBRATION_SIZE})")
    parser.add_argument("--window", type=IntAtLeast(1), default=None, metavar="T",
                        help="temporal (Video Depth Anything) models: the window of frames the graph takes (default "
                        "32, the offline windows' size; the input is then [1, T, 3, H, W])")
    parser.add_argument("--streaming", action="store_true",
                        help="Video Depth Anything models: the streaming pair (--format onnx) instead of a window: OUT for the "
                        "first frame and OUT.step.onnx for later ones, the cached attention states as graph inputs "
                        "and outputs (run with video --streaming --backend onnxruntime)")
    parser.add_argument("--verify", action="store_true",
                        help="after writing, compare the file (ONNX Runtime / OpenVINO CPU) with PyTorch at the export "
                        "size and, for --dynamic, three more sizes; print the errors")


def run(args: argparse.Namespace) -> int:
    """Load the weights, export, optionally verify, print what the file expects."""
    from ..errors import ExportError
    from .options import load_model_from_args

    if args.format == "nnarchive" and (args.dynamic or args.batch != "1"):
        raise ExportError("an NN Archive runs on the camera at one static size with batch 1: drop --dynamic/--batch")
    rvc4_archive = args.format == "nnarchive" and args.target == "rvc4"
    if args.int8 and args.format != "openvino" and not rvc4_archive:
        raise ExportError(f"--int8 is for --format openvino (NNCF quantizes the OpenVINO IR) or --format nnarchive "
                          f"--target rvc4, not --format {args.format} --target {args.target}")
    if args.int8 and args.target != "generic" and not rvc4_archive:
        raise ExportError(f"--int8 with --target {args.target}: Luxonis' converter quantizes camera models itself; "
                          "for RVC4 use --format nnarchive --target rvc4 (int8 with calibration photos)")
    calibrated = args.int8 or (rvc4_archive and not args.fp16)
    if not calibrated and (args.calibration is not None or args.calibration_size is not None):
        raise ExportError("--calibration and --calibration-size go with --int8 (or --format nnarchive --target rvc4)")
    if args.format != "nnarchive" and args.target != "generic" and (args.dynamic or args.batch != "1"):
        raise ExportError(f"--target {args.target} runs on the camera at one static size with batch 1: drop --dynamic/--batch")
    if args.target == "rvc2" and args.fp16:
        raise ExportError("--target rvc2 with --fp16: the RVC2 compiler makes the model float16 itself; drop --fp16")
    int8 = False
    if rvc4_archive and calibrated:
        from ..export.openvino import Int8Options
        from ..export.quantize import DEFAULT_CALIBRATION_SIZE, calibration_photos

        if args.fp16:
            raise ExportError("--int8 and --fp16 exclude each other: an RVC4 archive is converted to one precision")
        calibration_photos(args.calibration)  # a wrong path fails before the slow load
        int8 = Int8Options(calibration=args.calibration, calibration_size=args.calibration_size or DEFAULT_CALIBRATION_SIZE)
    elif args.int8:  # the library's own checks (--fp16, dynamic shapes, calibration paths), before the slow load
        from ..export.openvino import Int8Options, check_int8_options
        from ..export.quantize import DEFAULT_CALIBRATION_SIZE

        int8 = Int8Options(calibration=args.calibration, calibration_size=args.calibration_size or DEFAULT_CALIBRATION_SIZE)
        check_int8_options(args.fp16, int8, args.dynamic, args.batch)
    if args.int8 and args.verify:
        print("note: --verify compares the int8 file with PyTorch on random images; expect errors of a few per cent "
              "of the range, not the f32 file's 1e-6", file=sys.stderr)
    if args.format == "openvino" and args.fp16 and args.verify:
        print("note: --fp16 IR weights are float16; --verify compares with f32 inference", file=sys.stderr)
    if args.streaming and (args.format != "onnx" or args.window is not None or args.dynamic or args.fp16):
        raise ExportError("--streaming writes a static float32 ONNX pair: use --format onnx, without --window, "
                          "--dynamic or --fp16")
    model, source = load_model_from_args(args)
    if args.streaming:
        from ..export.streaming import export_streaming_onnx, step_path

        info = export_streaming_onnx(model, args.out, input_size=args.input_size, height=args.height,
                                     width=args.width, opset=args.opset, source=source)
        print(f"wrote {args.out} (first frame) and {step_path(args.out)} (later frames): input 'image' RGB float32 "
              f"NCHW in [0, 1], {info.size_text}; the step graph also takes past_0..7 and both return depth and "
              "present_0..7")
        return 0
    options = dict(input_size=args.input_size, height=args.height, width=args.width, opset=args.opset, fp16=args.fp16,
                   source=source, target=args.target)
    if args.window is not None:
        options["frames"] = args.window
    if args.format == "onnx":
        from ..export.onnx import export_onnx

        info = export_onnx(model, args.out, dynamic=args.dynamic, batch=args.batch, **options)
        backend = "onnxruntime"
    elif args.format == "openvino":
        from ..export.openvino import export_openvino

        info = export_openvino(model, args.out, dynamic=args.dynamic, batch=args.batch, int8=int8, **options)
        backend = "openvino"
    else:
        from ..export.nnarchive import export_nnarchive

        info = export_nnarchive(model, args.out, int8=int8 if rvc4_archive else None, **options)
        backend = None
    spec = info.input_spec
    print(f"wrote {args.out}: input '{'image'}' RGB float32 {'NCHW' if info.frames is None else 'NTCHW'} in [0, 1], "
          f"{info.size_text} "
          f"(multiples of {spec.size_multiple}), normalised inside; output 'depth' float32 {spec.output}"
          f"{f' in metres (0, {spec.max_depth:g})' if spec.is_metric else ' (relative)'}, {info.precision}")
    if args.format == "nnarchive" and args.target != "generic":
        _print_conversion(args.out, args.target, int8)
    if args.verify:
        _verify(model, args.out, backend, info)
    return 0


def _print_conversion(out: str, target: str, int8) -> None:
    """The modelconverter command that compiles the archive for the camera (not run here: it needs Docker)."""
    from pathlib import Path

    # the tool versions modelconverter 0.6.2 picks by default, pinned so a newer converter does not change them
    command = f"modelconverter convert {target} --path {out} --tool-version {'2022.3.0' if target == 'rvc2' else '2.41.0'}"
    if target == "rvc4" and int8:
        name = Path(out).name
        base = name[: -len(".tar.xz")] if name.endswith(".tar.xz") else name[: -len(".tar.gz")]
        calibration = Path(out).parent / f"{base}.calibration"
        print(f"wrote {calibration}/: {int8.calibration_size} calibration photos at the network size")
        command += f" calibration.path {calibration}"
    elif target == "rvc4":
        command += " rvc4.quantization_mode FP16_STANDARD"
    print(f"convert for the camera (Docker; command line checked with modelconverter 0.6.2): {command}")


def _verify(model, out: str, backend: str | None, info) -> None:
    from ..export.verify import compare_with_torch, parity_sizes
    from ..inference import open_runtime

    if backend is None:
        import tempfile
        from pathlib import Path

        from ..export.nnarchive import read_nnarchive

        _, onnx_bytes = read_nnarchive(out)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            path.write_bytes(onnx_bytes)
            results = compare_with_torch(model, open_runtime("onnxruntime", path), parity_sizes(info), batch=1)
    else:
        batch = info.batch or 2
        results = compare_with_torch(model, open_runtime(backend, out), parity_sizes(info), batch=batch)
    for result in results:
        print(f"verify ({backend or 'onnxruntime, archive model'} vs PyTorch): {result}")
