"""Time Depth Anything V2 `vits` at 518×518 on CPU against transformers' model with identical weights.

Prints seconds per call and the ratio ours / transformers (≤ 1.0 means this project is at least as
fast) for batch 1 and batch 8, timing the two models alternately in one run so machine noise hits
both alike; then the rise of peak resident memory during one call (median of 3 fresh processes each).

    python benchmarks/model_speed.py [--rounds 5] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch


def build_pair(folder: str):
    """Our vits and transformers' model holding the same random weights."""
    import transformers

    from depth_anything import build_model
    from depth_anything.weights import save_transformers

    torch.manual_seed(0)
    ours = build_model("vits").eval()
    save_transformers(ours, folder)
    theirs = transformers.DepthAnythingForDepthEstimation.from_pretrained(folder).eval()
    return ours, theirs


def forward(model, x):
    out = model(x)
    return out if isinstance(out, torch.Tensor) else out.predicted_depth


def time_pair(ours, theirs, batch: int, rounds: int) -> tuple[list[float], list[float]]:
    x = torch.randn(batch, 3, 518, 518)
    times: dict[str, list[float]] = {"ours": [], "theirs": []}
    with torch.inference_mode():
        torch.testing.assert_close(forward(ours, x), forward(theirs, x), atol=1e-4, rtol=1e-4)  # also a warm-up
        for _ in range(rounds):
            for name, model in (("ours", ours), ("theirs", theirs)):
                start = time.perf_counter()
                forward(model, x)
                times[name].append(time.perf_counter() - start)
    return times["ours"], times["theirs"]


def _current_rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def peak_memory_child(which: str, batch: int) -> None:
    """Run in a fresh process: build one model only (weights do not change memory), run it once and
    print how far the peak resident memory rose above the resident memory just before the call."""
    import transformers

    from depth_anything import build_model
    from depth_anything.weights import transformers_config

    ours = build_model("vits").eval()
    if which == "theirs":
        config = transformers.DepthAnythingConfig.from_dict(transformers_config(ours.config))
        del ours
        model = transformers.DepthAnythingForDepthEstimation(config).eval()
    else:
        model = ours
    x = torch.randn(batch, 3, 518, 518)
    before = _current_rss_kib()
    with torch.inference_mode():
        forward(model, x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rise_mib": (peak - before) / 1024}))


def _child_peak(which: str, batch: int) -> float:
    result = subprocess.run(
        [sys.executable, __file__, "--memory-child", which, str(batch)], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rise_mib"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--memory-child", nargs=2, metavar=("WHICH", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        peak_memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU, vits at 518×518, median of {args.rounds}")
    print("| batch | ours (s) | transformers (s) | ratio ours/transformers | peak memory rise ours / transformers (MiB) |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        ours, theirs = build_pair(folder)
        for batch in (1, 8):
            mine, other = time_pair(ours, theirs, batch, args.rounds)
            memory = [statistics.median(_child_peak(which, batch) for _ in range(3)) for which in ("ours", "theirs")]
            a, b = statistics.median(mine), statistics.median(other)
            print(f"| {batch} | {a:.3f} | {b:.3f} | {a / b:.3f} | {memory[0]:.0f} / {memory[1]:.0f} |", flush=True)


if __name__ == "__main__":
    main()
