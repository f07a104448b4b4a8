"""Reference outputs of the official Video Depth Anything code, kept as small test fixtures.

    python tools/make_vda_fixtures.py /tmp/Video-Depth-Anything --commit <sha> [--deps DIR] [--out DIR]

The first argument is an extracted checkout of https://github.com/DepthAnything/Video-Depth-Anything
(the folder holding `video_depth_anything/` and `utils/`); `--commit` records which commit it is (read
with git when the folder is a git checkout). The script builds the official vits model with the
pseudo-random weights of `seeded_state_dict` (a recipe the tests repeat without the official code),
runs it on small generated inputs and writes only the outputs, as float32, to
tests/fixtures/vda/official_outputs.npz:

- `forward`: the official `forward` on `forward_input()` (B=2, T=5, 3×70×98);
- `offline_relative` and `offline_metric`: the official `infer_video_depth` (the metric class skips the
  alignment of windows) on a 47-frame clip of 32×48 frames at input_size 42 (three windows);
- `streaming`: the official streaming class's `infer_video_depth_one` over a 45-frame clip of 20×48
  frames at input_size 42, which the 1.78 aspect-ratio rule lowers to 28;
- `position_table`: the official `pos_encoder.pe` buffer of a 64-channel motion module;

and, to tests/fixtures/vda/official_layouts.json.gz, the official state-dict layout (every key and its
shape) of the vits, vitb and vitl models, against which the tests check ours loads strictly.

How the official code runs here: on the CPU in float32 (`device='cpu', fp32=True`), with xFormers
absent so its plain attention path runs (its own fallback; nothing is patched for that). It imports
torchvision only for `transforms.Compose`; a stand-in module providing that one class is installed in
`sys.modules` before the import, so torchvision need not be installed. einops and easydict must be
importable (e.g. `pip install --target DIR einops easydict`, then `--deps DIR`). Nothing of the official
code is copied into this repository; the functions above the `main` section are ours and torch-only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import types
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "vda"
FIXTURE = FIXTURES / "official_outputs.npz"
LAYOUTS = FIXTURES / "official_layouts.json.gz"
SIZES = {  # the official configurations of the published sizes (run.py's)
    "vits": {"encoder": "vits", "features": 64, "out_channels": [48, 96, 192, 384]},
    "vitb": {"encoder": "vitb", "features": 128, "out_channels": [96, 192, 384, 768]},
    "vitl": {"encoder": "vitl", "features": 256, "out_channels": [256, 512, 1024, 1024]},
}
HEAD_CONFIG = SIZES["vits"]
FORWARD_SHAPE = (2, 5, 3, 70, 98)
OFFLINE = {"frames": 47, "height": 32, "width": 48, "input_size": 42, "seed": 5}
STREAMING = {"frames": 45, "height": 20, "width": 48, "input_size": 42, "seed": 6}


# --------------------------------------------------------------------------------------- the recipe
def seeded_state_dict(template: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Deterministic weights for a VDA state dict: key number k (in sorted order) draws from a generator
    seeded with k. Norm scales and LayerScale ≈ 1, matrices ≈ N(0, 0.49/fan_in), vectors ≈ N(0, 0.01),
    the last output bias 0.3 (so the final ReLUs leave most pixels alive); buffers (the temporal
    position tables `…pe`) are kept as given."""
    state = {}
    for index, key in enumerate(sorted(template)):
        value = template[key]
        if key.endswith(".pe"):
            state[key] = value.clone()
            continue
        noise = torch.randn(value.shape, generator=torch.Generator().manual_seed(index))
        name = key.rsplit(".", 1)[-1]
        if name == "gamma" or (name == "weight" and value.ndim == 1):  # LayerScale, LayerNorm, GroupNorm
            state[key] = 1.0 + 0.2 * noise
        elif value.ndim > 1:
            state[key] = noise * (0.7 / max(1, value[0].numel()) ** 0.5)
        else:
            state[key] = 0.1 * noise
    state["head.scratch.output_conv2.2.bias"] = torch.full_like(template["head.scratch.output_conv2.2.bias"], 0.3)
    return state


def forward_input() -> torch.Tensor:
    """The normalised clip [B, T, 3, H, W] the `forward` reference was computed on."""
    return torch.randn(FORWARD_SHAPE, generator=torch.Generator().manual_seed(1234))


def synthetic_clip(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """A panning clip [T, H, W, 3] of RGB uint8: a blocky texture moving one pixel a frame plus noise,
    from NumPy's frozen legacy generator and integer operations only (the same bytes everywhere)."""
    rng = np.random.RandomState(seed)
    texture = rng.randint(0, 256, size=(height // 4 + 2, (width + frames) // 4 + 2, 3))
    texture = np.repeat(np.repeat(texture, 4, axis=0), 4, axis=1)
    clip = np.stack([texture[:height, t : t + width] for t in range(frames)])
    clip = clip + rng.randint(-12, 13, size=clip.shape)
    return np.clip(clip, 0, 255).astype(np.uint8)


def weights_checksum(state: Mapping[str, torch.Tensor]) -> float:
    """Sum of |w| over the parameters: shows whether the recipe still gives the fixture's weights."""
    return float(sum(value.double().abs().sum() for key, value in state.items() if not key.endswith(".pe")))


# --------------------------------------------------------------------------------------- main
def _import_official(checkout: Path, deps: Path | None) -> tuple[type, type]:
    """The official offline and streaming classes, imported from `checkout`."""
    for folder in (deps, checkout):
        if folder is not None:
            sys.path.insert(0, str(folder))
    transforms = types.ModuleType("torchvision.transforms")

    class Compose:  # the one torchvision name the official code uses
        def __init__(self, steps):
            self.steps = steps

        def __call__(self, sample):
            for step in self.steps:
                sample = step(sample)
            return sample

    transforms.Compose = Compose
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms = transforms
    sys.modules.setdefault("torchvision", torchvision)
    sys.modules.setdefault("torchvision.transforms", transforms)
    from video_depth_anything.video_depth import VideoDepthAnything as Offline
    from video_depth_anything.video_depth_stream import VideoDepthAnything as Streaming

    return Offline, Streaming


def _commit(checkout: Path, given: str | None) -> str:
    if given:
        return given
    try:
        return subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="extracted official repository")
    parser.add_argument("--commit", help="the official commit the checkout holds")
    parser.add_argument("--deps", type=Path, help="folder with einops and easydict (pip install --target)")
    parser.add_argument("--out", type=Path, default=FIXTURE)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    Offline, Streaming = _import_official(args.checkout.resolve(), args.deps)

    relative = Offline(**HEAD_CONFIG).eval()
    state = seeded_state_dict(relative.state_dict())
    relative.load_state_dict(state, strict=True)
    metric = Offline(**HEAD_CONFIG, metric=True).eval()
    metric.load_state_dict(state, strict=True)

    outputs: dict[str, np.ndarray] = {"forward": relative(forward_input()).numpy()}
    clip = synthetic_clip(OFFLINE["frames"], OFFLINE["height"], OFFLINE["width"], OFFLINE["seed"])
    for name, model in (("offline_relative", relative), ("offline_metric", metric)):
        depth, _fps = model.infer_video_depth(clip, 30, input_size=OFFLINE["input_size"], device="cpu", fp32=True)
        outputs[name] = depth.astype(np.float32)

    streaming = Streaming(**HEAD_CONFIG).eval()
    streaming.load_state_dict(state, strict=True)
    clip = synthetic_clip(STREAMING["frames"], STREAMING["height"], STREAMING["width"], STREAMING["seed"])
    outputs["streaming"] = np.stack(
        [streaming.infer_video_depth_one(frame, input_size=STREAMING["input_size"], device="cpu", fp32=True)
         for frame in clip]
    ).astype(np.float32)
    outputs["position_table"] = state["head.motion_modules.2.temporal_transformer.transformer_blocks.0."
                                      "attention_blocks.0.pos_encoder.pe"].numpy()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        args.out, **outputs, commit=np.array(_commit(args.checkout, args.commit)),
        weights_checksum=np.array(weights_checksum(state)), torch_version=np.array(torch.__version__),
    )
    for name, value in outputs.items():
        print(f"{name}: shape {value.shape}, range {value.min():.4g} … {value.max():.4g}")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")

    layouts = {}
    for name, config in SIZES.items():
        layouts[name] = {key: list(value.shape) for key, value in Offline(**config).state_dict().items()}
    with gzip.open(args.out.parent / LAYOUTS.name, "wt") as file:
        json.dump(layouts, file, sort_keys=True)
    print(f"wrote {args.out.parent / LAYOUTS.name} ({(args.out.parent / LAYOUTS.name).stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
