"""Load test of `depth-anything serve` on loopback, against the same model through the `Predictor` alone.

For each model (the built-in `default` on ONNX Runtime; `random:vits`, untrained vits weights on torch,
which run at the speed of the published ones), at each concurrency (1, 4, 16, 64), in alternating
rounds (so a machine whose load changes affects both sides of a ratio alike):

1. The `Predictor` alone, in this process: 640×480 JPEG files through `Predictor.iter_predict`
   (decoding in its reader thread, batches of --batch-size), images per second.
2. A real server in a subprocess (`depth-anything serve --port P`, loopback), driven by a small asyncio
   HTTP/1.1 client with one keep-alive connection per concurrent caller (so the client costs the
   shared cores little): requests per second and p50/p95/p99 latency, every answer checked (a 200
   holding the bytes `predict` writes for that photo; for untrained weights, a 200). The answers are
   npy by default, the map as the Predictor returns it (--format png16 adds the PNG encoding, work the
   Predictor alone does not do).

Then, for the built-in model: the server's resident memory after start, after the levels and after
--memory-requests more requests; and a mixed run at concurrency 16 in which every tenth request is
bad (not an image, a truncated image, a wrong media type, too many pixels, a bad query): each bad one
must be answered 4xx, each good one correctly. With --litserve-python, LitServe over the same
Predictor is measured beside this server in alternating rounds.

Every run is bounded by request counts and by --level-seconds per level. Prints the table (the ratio
to the Predictor alone), writes a latency plot and, with --markdown, the report.

    python benchmarks/serve_load.py                                  # both models, 10,000 memory requests
    python benchmarks/serve_load.py --quick                          # default only, fewer requests
    python benchmarks/serve_load.py --litserve-python /tmp/ls/bin/python   # + LitServe side by side
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "serve"))  # ServerProcess: the test suite's real-server runner
sys.path.insert(0, str(Path(__file__).resolve().parent))  # pipeline_speed.make_photos

from machine import machine_header  # noqa: E402  (date, CPU, matmul peak and versions)
from pipeline_speed import make_photos  # noqa: E402
from server_process import ServerProcess, free_port  # noqa: E402

HOST = "127.0.0.1"


# ------------------------------------------------------------------------------------------ client
class Connection:
    """One keep-alive HTTP/1.1 connection to the server (loopback only)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = (f"POST {path} HTTP/1.1\r\nHost: {HOST}:{self.port}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        self.writer.write(head + body)
        await self.writer.drain()
        assert self.reader is not None
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        data = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
        self.reader = self.writer = None


@dataclass
class Level:
    """What one concurrency level measured."""

    concurrency: int
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    wrong: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")


Request = tuple[str, bytes, str, object]  # path, body, content type, expected: bytes, None (any 200) or "4xx"


async def drive(port: int, requests: list[Request], concurrency: int, count: int, limit_s: float) -> Level:
    """Send `count` requests (cycling through `requests`) from `concurrency` callers, within `limit_s`."""
    level = Level(concurrency)
    next_index = 0
    deadline = time.perf_counter() + limit_s

    async def caller() -> None:
        nonlocal next_index
        connection = Connection(port)
        try:
            while next_index < count and time.perf_counter() < deadline:
                path, body, content_type, expected = requests[next_index % len(requests)]
                next_index += 1
                start = time.perf_counter()
                status, _, data = await connection.request(path, body, content_type)
                level.latencies.append(time.perf_counter() - start)
                level.statuses[status] = level.statuses.get(status, 0) + 1
                if isinstance(expected, bytes):
                    level.wrong += status != 200 or data != expected
                elif expected is None:  # untrained weights: the server's differ from ours, only the status counts
                    level.wrong += status != 200
                else:
                    level.wrong += not (400 <= status < 500)
        finally:
            await connection.close()

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(concurrency)))
    level.seconds = time.perf_counter() - start
    return level


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------------------------ models
def open_alone(model: str, batch_size: int):
    """The Predictor `serve` opens for `model` (random:ENCODER: untrained weights on torch)."""
    from depth_anything.inference import Predictor
    from depth_anything.loading import open_predictor

    if model.startswith("random:"):
        from depth_anything.models import build_model

        return Predictor(build_model(model.split(":", 1)[1]), batch_size=batch_size)
    return open_predictor(model, batch_size=batch_size)


def server_arguments(model: str, args: argparse.Namespace) -> list[str]:
    chosen = ["--random-weights", model.split(":", 1)[1]] if model.startswith("random:") else ["--model", model]
    return [*chosen, "--batch-size", str(args.batch_size), "--max-batch", str(args.max_batch),
            "--max-wait-ms", str(args.max_wait_ms), "--max-queue", "1024", "--max-pixels", "4000000",
            "--request-timeout", "3600",
            "--log-level", "warning"]


def expected_answer(predictor, path: Path, fmt: str) -> bytes:
    """The body `predict` would write for `path` in format `fmt` (png16 or npy), from this process's Predictor."""
    import io

    from depth_anything.outputs import PNG_COMPRESSION, encode_png, png16_text, png16_values

    depth = predictor.predict_one(path)
    if fmt == "npy":
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(depth, dtype=np.float32))
        return buffer.getvalue()
    return encode_png(png16_values(depth, predictor.is_metric), PNG_COMPRESSION, png16_text(predictor.is_metric))


def bad_requests(good: bytes) -> list[Request]:
    """One of each kind of bad request, with the 4xx family as the expectation."""
    from depth_anything.outputs import encode_png

    huge = encode_png(np.zeros((2100, 2000, 3), np.uint8))  # 4.2 megapixels, a few kB
    path = "/v1/depth?format=png16"
    return [(path, b"definitely not an image", "image/png", "4xx"), (path, good[: len(good) // 2], "image/jpeg", "4xx"),
            (path, good, "text/plain", "4xx"), (path, huge, "image/png", "4xx"),
            ("/v1/depth?format=tiff", good, "image/jpeg", "4xx")]


def alone_throughput(predictor, photos: list[Path], count: int) -> float:
    """Images per second of `predictor.iter_predict` over `count` of the photos (files, as `predict` reads)."""
    paths = [photos[i % len(photos)] for i in range(count)]
    start = time.perf_counter()
    for _ in predictor.iter_predict(paths):
        pass
    return count / (time.perf_counter() - start)


def measure_model(model: str, photos: list[Path], args: argparse.Namespace) -> dict:
    """Everything for one model: each concurrency level in rounds, each round the Predictor alone and then
    the server (so a machine whose load changes affects both sides of a ratio alike), memory, mixed run."""
    predictor = open_alone(model, args.batch_size)
    predictor.predict_one(photos[0])  # warm
    bodies = [p.read_bytes() for p in photos]
    random = model.startswith("random:")
    expected = [None if random else expected_answer(predictor, p, args.format) for p in photos]
    good: list[Request] = [(f"/v1/depth?format={args.format}", body, "image/jpeg", None if random else answer)
                           for body, answer in zip(bodies, expected, strict=True)]
    # torch vits takes seconds per image on a small CPU: one round per level, a few images alone
    rounds = 1 if random else args.rounds
    scale = 1 if not random else 10
    alone_count = max(4, args.alone_images // scale // rounds)
    result: dict = {"model": model, "levels": [], "alone": {}, "ratios": {}}
    with ServerProcess(server_arguments(model, args)) as server:
        port = int(server.url.rsplit(":", 1)[1])
        pid = server.process.pid
        asyncio.run(drive(port, good, 4, 8, 60))  # warm the connections and the runtime
        result["rss_start"] = rss_mb(pid)
        for concurrency in args.concurrency:
            requests = max(args.requests // scale // rounds, 2 * concurrency)
            merged, alone_rates, ratios = Level(concurrency), [], []
            for _ in range(rounds):
                alone_rates.append(alone_throughput(predictor, photos, alone_count))
                level = asyncio.run(drive(port, good, concurrency, requests, args.level_seconds / rounds))
                ratios.append(level.throughput / alone_rates[-1])
                merged.latencies += level.latencies
                merged.seconds += level.seconds
                merged.wrong += level.wrong
                for status, n in level.statuses.items():
                    merged.statuses[status] = merged.statuses.get(status, 0) + n
            result["levels"].append(merged)
            result["alone"][concurrency] = statistics.median(alone_rates)
            result["ratios"][concurrency] = statistics.median(ratios)
            print(f"{model}: concurrency {concurrency}: {merged.throughput:.1f} req/s (Predictor alone "
                  f"{result['alone'][concurrency]:.1f}/s, ratio {result['ratios'][concurrency]:.2f}), p50 "
                  f"{merged.percentile(50):.0f} ms, p99 {merged.percentile(99):.0f} ms, wrong {merged.wrong}", flush=True)
        result["rss_levels"] = rss_mb(pid)
        result["served"] = 8 + sum(len(lv.latencies) for lv in result["levels"])
        if not model.startswith("random:"):
            memory = asyncio.run(drive(port, good, 16, args.memory_requests, args.memory_seconds))
            result["served"] += len(memory.latencies)
            result["memory_run"] = len(memory.latencies)
            result["memory_wrong"] = memory.wrong
            result["rss_end"] = rss_mb(pid)
            print(f"{model}: memory {result['rss_start']:.0f} MiB at start, {result['rss_levels']:.0f} MiB after the "
                  f"levels, {result['rss_end']:.0f} MiB after {result['memory_run']} more requests", flush=True)
            bad = bad_requests(bodies[0])
            mixed_requests = [bad[(i // 10) % len(bad)] if i % 10 == 9 else good[i % len(good)]
                              for i in range(args.mixed_requests)]
            mixed = asyncio.run(drive(port, mixed_requests, 16, len(mixed_requests), args.level_seconds))
            result["mixed"] = mixed
            print(f"{model}: mixed run {len(mixed.latencies)} requests, statuses {mixed.statuses}, wrong {mixed.wrong}",
                  flush=True)
    return result


# ------------------------------------------------------------------------------------------ LitServe
LITSERVE_API = '''
import base64, io, sys
import litserve as ls
from fastapi import Response
from depth_anything.loading import open_predictor
from depth_anything.io import decode_image_bytes
from depth_anything.outputs import PNG_COMPRESSION, png16_text, encode_png, png16_values

class DepthAPI(ls.LitAPI):
    def setup(self, device):
        self.predictor = open_predictor("default", batch_size=int(sys.argv[3]))
    def decode_request(self, request):
        return decode_image_bytes(base64.b64decode(request["image"]), "upload")
    def predict(self, images):
        return self.predictor.predict(list(images))
    def encode_response(self, depth):
        metric = self.predictor.is_metric
        return Response(encode_png(png16_values(depth, metric), PNG_COMPRESSION, png16_text(metric)),
                        media_type="image/png")

if __name__ == "__main__":
    server = ls.LitServer(DepthAPI(max_batch_size=int(sys.argv[2]), batch_timeout=float(sys.argv[4])),
                          accelerator="cpu", timeout=60)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", generate_client_file=False)
'''


def compare_stacks(python: str, photos: list[Path], args: argparse.Namespace) -> dict[tuple[str, int], list[float]]:
    """Requests per second of this server and of a LitServe server over the same Predictor (default model,
    same --max-batch, --batch-size and wait), both up at once and driven in alternating rounds. LitServe
    takes JSON or forms (its worker process gets each request by pickle), so its images go as base64 JSON."""
    import httpx

    predictor = open_alone("default", args.batch_size)
    expected = [expected_answer(predictor, p, "png16") for p in photos]
    del predictor
    ours = [("/v1/depth?format=png16", p.read_bytes(), "image/jpeg", e) for p, e in zip(photos, expected, strict=True)]
    theirs = [("/predict", json.dumps({"image": base64.b64encode(p.read_bytes()).decode()}).encode(), "application/json",
               e) for p, e in zip(photos, expected, strict=True)]
    port = free_port()
    rates: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as folder, ServerProcess(server_arguments("default", args)) as server:
        script = Path(folder) / "litserve_depth.py"
        script.write_text(LITSERVE_API)
        process = subprocess.Popen([python, str(script), str(port), str(args.max_batch), str(args.batch_size),
                                    str(args.max_wait_ms / 1000)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own group: LitServe starts processes of its own
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://{HOST}:{port}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            targets = {"FastAPI + own queue (serve)": (int(server.url.rsplit(":", 1)[1]), ours),
                       "LitServe": (port, theirs)}
            for target_port, requests in targets.values():
                asyncio.run(drive(target_port, requests, 4, 8, 60))
            for concurrency in args.concurrency:
                for _ in range(args.rounds + 1):
                    for name, (target_port, requests) in targets.items():
                        level = asyncio.run(drive(target_port, requests, concurrency,
                                                  max(args.requests // args.rounds, 2 * concurrency), args.level_seconds))
                        rates.setdefault((name, concurrency), []).append(level.throughput)
                        if level.wrong:
                            raise RuntimeError(f"{name}: {level.wrong} wrong answers at concurrency {concurrency}")
                print("stacks, concurrency", concurrency, {name: round(statistics.median(rates[(name, concurrency)]), 1)
                                                           for name in targets}, flush=True)
        finally:
            os.killpg(process.pid, signal.SIGTERM)  # LitServe's API and inference processes with it
            process.wait(30)
    return rates


# ------------------------------------------------------------------------------------------ report
def table(results: list[dict]) -> str:
    rows = ["| model | concurrency | requests | req/s | Predictor alone, images/s | ratio | p50 ms | p95 ms | p99 ms | wrong |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for result in results:
        for level in result["levels"]:
            c = level.concurrency
            rows.append(f"| {result['model']} | {c} | {len(level.latencies)} | {level.throughput:.3g} | "
                        f"{result['alone'][c]:.3g} | {result['ratios'][c]:.2f} | {level.percentile(50):.0f} | "
                        f"{level.percentile(95):.0f} | {level.percentile(99):.0f} | {level.wrong} |")
    return "\n".join(rows)


def stack_table(rates: dict[tuple[str, int], list[float]]) -> str:
    names = list(dict.fromkeys(name for name, _ in rates))
    levels = sorted({c for _, c in rates})
    rows = ["| stack | " + " | ".join(f"c={c} req/s" for c in levels) + " |",
            "| --- | " + " | ".join("---:" for _ in levels) + " |"]
    for name in names:
        rows.append(f"| {name} | " + " | ".join(f"{statistics.median(rates[(name, c)]):.1f}" for c in levels) + " |")
    return "\n".join(rows)


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for axis, result in zip(axes[0], results, strict=True):
        levels = result["levels"]
        x = [lv.concurrency for lv in levels]
        for q, style in ((50, "o-"), (95, "s--"), (99, "^:")):
            axis.plot(x, [lv.percentile(q) for lv in levels], style, label=f"p{q}")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(x, [str(c) for c in x])
        axis.set_xlabel("concurrent callers")
        axis.set_ylabel("latency (ms)")
        axis.set_title(f"{result['model']}: request latency")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="default,random:vits", help="comma-separated (random:ENCODER allowed)")
    parser.add_argument("--concurrency", default="1,4,16,64", type=lambda t: [int(c) for c in t.split(",")])
    parser.add_argument("--requests", type=int, default=400, help="requests per level, all rounds (vits: a tenth)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of Predictor alone + server per level")
    parser.add_argument("--level-seconds", type=float, default=180.0, help="time bound of each level")
    parser.add_argument("--alone-images", type=int, default=200,
                        help="images through the Predictor alone per level, all rounds (vits: a tenth)")
    parser.add_argument("--memory-requests", type=int, default=10_000)
    parser.add_argument("--memory-seconds", type=float, default=1500.0)
    parser.add_argument("--mixed-requests", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--format", choices=("npy", "png16"), default="npy",
                        help="answer format of the levels (npy: the map as the Predictor returns it; png16 adds its "
                        "encoding, which the Predictor alone does not do)")
    parser.add_argument("--litserve-python", default=None,
                        help="a Python with litserve installed: compare the two stacks side by side (default model)")
    parser.add_argument("--plot", type=Path, default=REPO / "assets" / "serve_latency.png")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the report here")
    parser.add_argument("--quick", action="store_true", help="default model only, few requests")
    args = parser.parse_args()
    if args.quick:
        args.models, args.requests, args.alone_images = "default", 100, 60
        args.memory_requests, args.mixed_requests = 500, 100
    print(machine_header(), flush=True)
    with tempfile.TemporaryDirectory() as folder:
        photos = make_photos(Path(folder) / "photos", args.photos)
        results = [measure_model(model, photos, args) for model in args.models.split(",")]
        stacks = compare_stacks(args.litserve_python, photos, args) if args.litserve_python else None
    cpu = next((line.split(":", 1)[1].strip() for line in subprocess.run(
        ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name")), "unknown CPU")
    header = (f"{datetime.date.today()}, {cpu}, {os.cpu_count()} cores; 640×480 JPEG in, {args.format} out; --batch-size "
              f"{args.batch_size} --max-batch {args.max_batch} --max-wait-ms {args.max_wait_ms:g}; ratio: the server's "
              f"requests/s over the Predictor alone's images/s, median of {args.rounds} alternating rounds "
              f"(random:vits: 1)")
    lines = [header, "", table(results), ""]
    for result in results:
        memory = f"{result['model']}: server memory {result['rss_start']:.0f} MiB after start, {result['rss_levels']:.0f} MiB " \
                 f"after the levels"
        if "rss_end" in result:
            memory += (f", {result['rss_end']:.0f} MiB after {result['served']} requests in all "
                       f"({result['memory_wrong']} of the last {result['memory_run']} answered wrongly)")
        lines.append(memory)
        if "mixed" in result:
            mixed = result["mixed"]
            lines.append(f"{result['model']}: mixed run, {len(mixed.latencies)} requests with every tenth bad: statuses "
                         f"{dict(sorted(mixed.statuses.items()))}, {mixed.wrong} answered wrongly")
    if stacks:
        lines += ["", "stacks over the same Predictor (default model), medians of alternating rounds:", "",
                  stack_table(stacks)]
    report = "\n".join(lines)
    print("\n" + report)
    plot(results, args.plot)
    print(f"plot: {args.plot}")
    if args.markdown:
        args.markdown.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
