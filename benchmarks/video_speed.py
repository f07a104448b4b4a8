"""Video Depth Anything on this CPU: our offline windows and streaming against the official code, and
peak memory against video length.

    python benchmarks/video_speed.py --official /tmp/Video-Depth-Anything --deps /tmp/vda-deps
    python benchmarks/video_speed.py                      # without a checkout: our columns only
    python benchmarks/video_speed.py --quick              # small frames and clips (a minute or two)

All in one run, side by side, so machine noise hits every figure alike:

1. offline frames/s of VDA vits (the published configuration, the deterministic weights of
   tools/make_vda_fixtures.py: random, so only the speed means anything) at `--input-size` (518) on a
   clip of `--frames` frames, ours (`inference.video_windows.iter_video_depth`) and the official
   `infer_video_depth`, in interleaved rounds (medians), after checking the two give the same depth;
2. streaming: frames/s and the median latency of one frame, ours (`StreamingVideoDepth`) and the
   official `infer_video_depth_one`;
3. peak memory (peak resident set, VmHWM, each in a fresh process) against video length, ours reading
   frames from a generator and dropping each map once consumed, the official holding the clip and its
   depth in arrays as its API takes and returns them; written as a plot with `--plot PNG`.

The official checkout is the folder holding `video_depth_anything/` (git archive of
DepthAnything/Video-Depth-Anything); einops and easydict must import (`pip install --target DIR einops
easydict`, then `--deps DIR`). The stabiliser's cost per frame is `benchmarks/stabilizer_speed.py`'s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from machine import machine_header

from depth_anything.inference.video_windows import StreamingVideoDepth, iter_video_depth
from depth_anything.models.video_depth_anything import build_video_model

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_vda_fixtures", ROOT / "tools" / "make_vda_fixtures.py")
recipe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(recipe)


def ours_model() -> torch.nn.Module:
    model = build_video_model("vits", init_weights=False).eval()
    model.load_state_dict(recipe.seeded_state_dict(model.state_dict()), strict=True)
    return model


def official_models(checkout: Path, deps: Path | None):
    offline_class, streaming_class = recipe._import_official(checkout, deps)
    offline = offline_class(**recipe.HEAD_CONFIG).eval()
    state = recipe.seeded_state_dict(offline.state_dict())
    offline.load_state_dict(state, strict=True)
    streaming = streaming_class(**recipe.HEAD_CONFIG).eval()
    streaming.load_state_dict(state, strict=True)
    return offline, streaming


def clip(frames: int, height: int, width: int) -> np.ndarray:
    return recipe.synthetic_clip(frames, height, width, seed=7)


def timed(run) -> tuple[float, object]:
    start = time.perf_counter()
    out = run()
    return time.perf_counter() - start, out


def offline_rows(model, official, frames: np.ndarray, input_size: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per clip of each side, interleaved; checks the outputs agree first."""
    ours = lambda: np.stack(list(iter_video_depth(model, iter(frames), input_size)))  # noqa: E731
    runners = {"ours": ours}
    if official is not None:
        runners["official"] = lambda: official.infer_video_depth(frames, 30, input_size=input_size, device="cpu",
                                                                  fp32=True)[0]
    times: dict[str, list[float]] = {name: [] for name in runners}
    outputs = {}
    for _round in range(rounds):
        for name, run in runners.items():
            seconds, out = timed(run)
            times[name].append(seconds)
            outputs[name] = out
    if official is not None:
        ref = np.asarray(outputs["official"], np.float32)
        error = float(np.abs(outputs["ours"] - ref).max() / max(float(ref.max() - ref.min()), 1e-12))
        print(f"offline outputs: max difference {error:.1e} of the official depth range")
    return times


def streaming_rows(model, official_stream, frames: np.ndarray, input_size: int) -> dict[str, list[float]]:
    """Seconds per frame of each side, frame by frame, interleaved per frame."""
    stream = StreamingVideoDepth(model, input_size)
    times: dict[str, list[float]] = {"ours": []}
    if official_stream is not None:
        times["official"] = []
    differences = []
    with torch.inference_mode():
        for frame in frames:
            seconds, mine = timed(lambda frame=frame: stream(frame))
            times["ours"].append(seconds)
            if official_stream is not None:
                seconds, theirs = timed(lambda frame=frame: official_stream.infer_video_depth_one(
                    frame, input_size=input_size, device="cpu", fp32=True))
                times["official"].append(seconds)
                differences.append(float(np.abs(mine - theirs).max() / max(float(theirs.max() - theirs.min()), 1e-12)))
    if differences:
        print(f"streaming outputs: max difference {max(differences):.1e} of the official depth range")
    return times


def memory_child(which: str, length: int, height: int, width: int, input_size: int, checkout: str, deps: str) -> None:
    """Run one side over a clip of `length` frames and print the peak resident set (MiB) as JSON."""
    torch.set_grad_enabled(False)
    if which == "ours":
        model = ours_model()
        frames = (recipe.synthetic_clip(1, height, width, seed=index)[0] for index in range(length))
        for depth in iter_video_depth(model, frames, input_size):
            del depth  # a writer would write it and let it go
    else:
        offline, _ = official_models(Path(checkout), Path(deps) if deps else None)
        frames = np.stack([recipe.synthetic_clip(1, height, width, seed=index)[0] for index in range(length)])
        offline.infer_video_depth(frames, 30, input_size=input_size, device="cpu", fp32=True)
    print(json.dumps({"peak_mib": peak_resident_mib()}))


def peak_resident_mib() -> float:
    """This process's peak resident set (VmHWM: reset by exec, unlike getrusage's ru_maxrss on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_rows(sides: list[str], lengths: list[int], args) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {side: [] for side in sides}
    for length in lengths:
        for side in sides:
            done = subprocess.run(
                [sys.executable, __file__, "--memory-child", side, str(length), str(args.memory_height),
                 str(args.memory_width), str(args.memory_input_size), str(args.official or ""), str(args.deps or "")],
                capture_output=True, text=True, cwd=Path(__file__).parent,
            )
            if done.returncode != 0:
                raise SystemExit(f"memory child {side} {length} failed:\n{done.stderr[-2000:]}")
            rows[side].append(json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"])
            print(f"  {side}, {length} frames: peak {rows[side][-1]:.0f} MiB", flush=True)
    return rows


def plot_memory(path: Path, lengths: list[int], rows: dict[str, list[float]], size: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.6), dpi=110)
    for side, values in rows.items():
        axes.plot(lengths, values, marker="o", label="ours (frames streamed)" if side == "ours" else "official (arrays)")
    axes.set_xlabel("video length (frames)")
    axes.set_ylabel("peak resident memory (MiB)")
    axes.set_title(f"VDA vits offline, {size} frames")
    axes.set_ylim(bottom=0)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, help="checkout of the official repository (leave out: ours only)")
    parser.add_argument("--deps", type=Path, help="folder with einops and easydict for the official code")
    parser.add_argument("--frames", type=int, default=40, help="offline clip length (40: two windows)")
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--input-size", type=int, default=518)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stream-frames", type=int, default=12)
    parser.add_argument("--lengths", default="32,96,192", help="video lengths for the memory rows")
    parser.add_argument("--memory-height", type=int, default=240)
    parser.add_argument("--memory-width", type=int, default=320)
    parser.add_argument("--memory-input-size", type=int, default=140)
    parser.add_argument("--plot", type=Path, help="write the memory plot here (PNG)")
    parser.add_argument("--quick", action="store_true", help="240×320 frames at input 196, 40 frames, one round")
    parser.add_argument("--memory-child", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        which, length, height, width, input_size, checkout, deps = args.memory_child
        memory_child(which, int(length), int(height), int(width), int(input_size), checkout, deps)
        return
    if args.quick:
        args.height, args.width, args.input_size, args.rounds, args.stream_frames = 240, 320, 196, 1, 8
    torch.set_grad_enabled(False)
    print(machine_header(), flush=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; VDA vits, fp32, CPU; frames "
          f"{args.height}×{args.width} at input size {args.input_size}\n", flush=True)
    model = ours_model()
    official, official_stream = official_models(args.official.resolve(), args.deps) if args.official else (None, None)
    frames = clip(args.frames, args.height, args.width)

    times = offline_rows(model, official, frames, args.input_size, args.rounds)
    print(f"\noffline, {args.frames} frames, median of {args.rounds} interleaved rounds\n")
    print("| | s per clip | frames/s | × official |\n|---|---:|---:|---:|")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, seconds in medians.items():
        speedup = f"{medians['official'] / seconds:.2f}" if "official" in medians else "–"
        print(f"| {name} | {seconds:.1f} | {args.frames / seconds:.2f} | {speedup} |")

    stream_times = streaming_rows(model, official_stream, frames[: args.stream_frames], args.input_size)
    print(f"\nstreaming, {args.stream_frames} frames (the first, which fills the cache, left out of the median)\n")
    print("| | median ms per frame | frames/s | × official |\n|---|---:|---:|---:|")
    stream_medians = {name: statistics.median(values[1:]) for name, values in stream_times.items()}
    for name, seconds in stream_medians.items():
        speedup = f"{stream_medians['official'] / seconds:.2f}" if "official" in stream_medians else "–"
        print(f"| {name} | {seconds * 1000:.0f} | {1 / seconds:.2f} | {speedup} |")

    lengths = [int(text) for text in args.lengths.split(",") if text]
    size = f"{args.memory_height}×{args.memory_width} at input {args.memory_input_size}"
    print(f"\npeak memory against video length ({size}; fresh process each):", flush=True)
    sides = ["ours", *(["official"] if args.official else [])]
    rows = memory_rows(sides, lengths, args)
    print("\n| frames | " + " | ".join(f"{side} peak MiB" for side in sides) + " |\n|---:|" + "---:|" * len(sides))
    for index, length in enumerate(lengths):
        print(f"| {length} | " + " | ".join(f"{rows[side][index]:.0f}" for side in sides) + " |")
    if args.plot:
        plot_memory(args.plot, lengths, rows, size)


if __name__ == "__main__":
    main()
