"""The temporal stage: a Video Depth Anything head trained on clips, on a frozen encoder (as VDA trains).

The trainer's loop, checkpoints, resume, DDP and logs are the image stages'; this module supplies what
differs: the network (`build_temporal_model`), the data (`ClipDataset`, `collate_clips`), the forward
pass (`ClipForward`), the loss (`ClipObjective`) and the validation (`ClipValidator`).

- **Network.** `model.init` names the starting weights: an image model (its encoder and DPT head, e.g.
  the built-in `default`) or a VDA checkpoint (everything). Motion modules that the file lacks start
  with a zero output projection (VDA's zero initialisation), so before step 1 the video model predicts
  exactly what the image model does. The encoder is frozen (VDA trains the head only);
  `model.motion_modules_only` freezes the image head too and trains the motion modules alone.
- **Data.** Sequence layouts (`synthetic-sequences`, `vda-*`) give clips of `data.clip_frames`
  consecutive frames starting every `data.clip_stride` frames; image layouts give single-frame clips,
  mixed into the same batches (VDA's joint image and video training keeps the spatial quality). The
  mix is the ratio of items: every clip start and every image is one item of the epoch, so a source's
  share is set with `max_samples` (images) or `clip_stride` (sequences). One crop, flip and colour
  jitter per clip: every frame of a clip is transformed with a generator in the same state.
- **Loss** (VDA's published loss, written from its definition): per frame the scale-and-shift-invariant
  loss plus `loss.gradient_weight` × gradient matching (VDA: 0.5), averaged over the clip's frames;
  plus `loss.temporal_weight` (VDA: 10) × the temporal gradient matching loss of the clip.
- **Validation** on held-out sequences: the first `clip_frames` frames of each, at the input size
  (shorter side `data.size`), scored as the video benchmarks score (`eval.video.score_sequence`: one
  scale and shift per sequence, AbsRel, δ1, and TAE with the sequence's poses).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..data.augment import TrainTransform
from ..data.datasets import DepthSample, DepthSequence, open_dataset, open_sequences, sequence_layouts
from ..errors import CheckpointMismatchError, ConfigError, DepthAnythingError
from ..eval.video import VIDEO_BENCHMARKS, score_sequence
from ..models.config import default_input_spec
from ..models.video_depth_anything import VideoDepthAnything
from ..transforms import preprocess, resize_depth
from .config import DataSource, TrainConfig, model_config_from
from .distributed import DistEnv, all_reduce_sum
from .losses import relative_depth_loss, temporal_gradient_matching_loss
from .setup import autocast, freeze_unused, open_relu, read_init

log = logging.getLogger(__name__)

DEFAULT_VAL_MAX_DEPTH = 80.0  # depth cap of validation on a layout no video benchmark names


# ----------------------------------------------------------------------------------- the network
def build_temporal_model(config: TrainConfig) -> VideoDepthAnything:
    """The video network of a temporal config with its starting weights, encoder frozen (on the CPU)."""
    model_config = model_config_from(config.model)
    model = VideoDepthAnything(model_config, default_input_spec(model_config))
    fresh_modules = True
    if config.model.init:
        fresh_modules = load_video_init(model, config.model.init)
    else:
        open_relu(model)
    if fresh_modules:
        for module in model.head.motion_modules:
            nn.init.zeros_(module.temporal_transformer.proj_out.weight)
            nn.init.zeros_(module.temporal_transformer.proj_out.bias)
    model.pretrained.requires_grad_(False)
    if config.model.motion_modules_only:
        for name, parameter in model.head.named_parameters():
            parameter.requires_grad_(name.startswith("motion_modules."))
    freeze_unused(model, lambda m, probe: ClipForward(m)([probe.unsqueeze(0).expand(1, 2, *probe.shape[1:])])[0])
    return model


def load_video_init(model: VideoDepthAnything, name_or_path: str) -> bool:
    """Load a VDA checkpoint (strictly) or an image model's encoder and DPT head (everything but the motion
    modules) into `model`; True when the motion modules were not in the file."""
    state, file = read_init(name_or_path)
    if any(key.startswith("depth_head.") for key in state):
        state = {("head." + key.removeprefix("depth_head.") if key.startswith("depth_head.") else key): value
                 for key, value in state.items()}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise CheckpointMismatchError(f"{file}: does not fit the configured video model ({exc})") from None
    foreign = [k for k in missing if ".motion_modules." not in k] + list(unexpected)
    if foreign:
        raise CheckpointMismatchError(f"{file}: does not fit the configured video model (missing or unexpected "
                                      f"keys: {', '.join(foreign[:5])}{' …' if len(foreign) > 5 else ''})")
    return bool(missing)


class ClipForward(nn.Module):
    """Depth of every group of clips of a batch in one call (so DDP sees one forward per step); the
    frozen encoder runs without gradients."""

    def __init__(self, model: VideoDepthAnything) -> None:
        super().__init__()
        self.model = model

    def forward(self, clips: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], None]:
        depths = []
        for clip in clips:  # [B, T, 3, H, W], one tensor per clip length
            frames, size = clip.shape[1], (clip.shape[-2], clip.shape[-1])
            with torch.no_grad():
                features = self.model.encode(clip.flatten(0, 1))
            # The encoder's outputs are marked as needing gradients: with the whole image head frozen
            # (`motion_modules_only`), torch 2.13's CPU backward crashes (segmentation fault) when the
            # motion modules' inputs need none; this costs only the 1×1 projections' input gradients.
            features = [(tokens.requires_grad_(), cls) for tokens, cls in features]
            depths.append(self.model.decode(features, frames, size)[0])
        return depths, None


# ----------------------------------------------------------------------------------- the loss
class ClipObjective:
    """VDA's loss per clip (see the module docstring); the trainer's `Objective` interface."""

    def __init__(self, config: TrainConfig) -> None:
        self.loss = config.loss

    def __call__(
        self, batch: dict[str, Any], depths: Sequence[torch.Tensor], feature: None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The batch loss (mean over clips with valid pixels) and per-clip terms in `batch["names"]` order."""
        cfg = self.loss
        parts: dict[str, list[torch.Tensor]] = {"ssi": [], "gradient": [], "temporal": [], "total": [], "has": []}
        for depth, target, valid in zip(depths, batch["target"], batch["valid"], strict=True):
            clips, frames = depth.shape[:2]
            spatial = relative_depth_loss(depth.float().flatten(0, 1), target.flatten(0, 1), valid.flatten(0, 1),
                                          0.0, cfg.ssi_weight, cfg.gradient_weight, cfg.gradient_scales)
            temporal = temporal_gradient_matching_loss(depth.float(), target, valid, cfg.temporal_threshold)
            parts["ssi"].append(spatial.ssi.view(clips, frames).mean(1))
            parts["gradient"].append(spatial.gradient.view(clips, frames).mean(1))
            parts["temporal"].append(temporal)
            parts["total"].append(spatial.total.view(clips, frames).mean(1) + cfg.temporal_weight * temporal)
            parts["has"].append(valid.flatten(1).any(dim=1).float())
        terms = {name: torch.cat(values) for name, values in parts.items()}
        has = terms.pop("has")
        loss = (terms["total"] * has).sum() / has.sum().clamp(min=1)
        return loss, terms


# ----------------------------------------------------------------------------------- the data
def is_sequence_source(source: DataSource) -> bool:
    """Whether a configured source is a sequence layout (clips) rather than an image layout."""
    return source.layout in sequence_layouts()


def _frame_count(reader: Any, index: int) -> int:
    """Frames of sequence `index` from the reader's index (no image is read), else by loading it."""
    item = reader.items[index]
    if isinstance(item, dict) and "frames" in item:
        return int(item["frames"])
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], list):
        return len(item[1])
    return len(reader[index])


class _ClipSource:
    """One opened source as items of the epoch: (sequence, first frame) clips or single images."""

    def __init__(self, source: DataSource, key: str, frames: int, stride: int) -> None:
        self.name, self.frames = f"{source.layout}:{source.root}", frames
        self.sequences = is_sequence_source(source)
        try:
            opener = open_sequences if self.sequences else open_dataset
            self.reader = opener(source.layout, source.root, source.split, **source.options)
        except DepthAnythingError as exc:
            raise ConfigError(f"key '{key}': {exc}") from None
        except TypeError as exc:
            raise ConfigError(f"key '{key}.options': {exc}") from None
        if self.sequences:
            self.items: list[Any] = []
            short = 0
            for index in range(len(self.reader)):
                count = _frame_count(self.reader, index)
                starts = range(0, count - frames + 1, stride)
                short += not starts
                self.items.extend((index, start) for start in starts)
            if short:
                log.warning("%s: %d sequences shorter than %d frames are left out", key, short, frames)
        else:
            self.items = list(range(len(self.reader)))
        if source.max_samples is not None:
            self.items = self.items[: source.max_samples]
        if not self.items:
            raise ConfigError(f"key '{key}': {self.name} has no {'clip of ' + str(frames) + ' frames' if self.sequences else 'samples'}")

    def describe(self, local: int) -> str:
        item = self.items[local]
        if self.sequences:
            index, start = item
            return f"sequence {index} frames {start}-{start + self.frames - 1}"
        items = getattr(self.reader, "items", None)
        return str(items[item]) if items is not None else f"sample {item}"

    def samples(self, local: int) -> tuple[str, list[DepthSample]]:
        """The clip's name and its frames as samples (one for an image)."""
        item = self.items[local]
        if not self.sequences:
            sample = self.reader[item]
            return sample.name, [sample]
        index, start = item
        sequence: DepthSequence = self.reader[index]
        frames = range(start, start + self.frames)
        samples = [DepthSample(f"{sequence.name}/{t:06d}", sequence.images[t], sequence.depth[t], sequence.valid[t])
                   for t in frames]
        return f"{sequence.name}[{start}:{start + self.frames}]", samples


class ClipDataset(Dataset):
    """Clips and single-frame image clips of several sources, each clip augmented as one (see module doc).

    Indexes are ints or (epoch, index) pairs as `DepthTrainDataset`'s; a failing clip yields an error
    record naming the source and sequence instead of raising.
    """

    def __init__(self, sources: Sequence[_ClipSource], transform: TrainTransform, seed: int = 0) -> None:
        self.sources, self.transform, self.seed = list(sources), transform, seed
        self.offsets = np.cumsum([0] + [len(s.items) for s in self.sources]).tolist()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def stream_blocks(self) -> None:
        """Clips are read by index, never as a stream of label shards (the sampler's plain order)."""
        return None

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        epoch, index = key if isinstance(key, tuple) else (0, key)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} clips")
        which = bisect.bisect_right(self.offsets, index) - 1
        source, local = self.sources[which], int(index) - self.offsets[which]
        try:
            name, samples = source.samples(local)
            # the same generator state for every frame: one crop, flip and jitter for the whole clip
            arrays = [self.transform(sample, np.random.default_rng([self.seed, int(epoch), int(index)]))
                      for sample in samples]
        except (DepthAnythingError, OSError, ValueError, KeyError, IndexError, cv2.error) as exc:
            return {"error": f"{source.name}: {source.describe(local)}: {exc}", "index": int(index)}
        return {
            "image": torch.from_numpy(np.stack([a["image"] for a in arrays])),
            "target": torch.from_numpy(np.stack([a["target"] for a in arrays])),
            "valid": torch.from_numpy(np.stack([a["valid"] for a in arrays])),
            "name": name,
            "index": int(index),
        }


def collate_clips(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Good clips grouped by length (longest first) into tuples of stacked tensors; bad ones dropped
    with their messages under "errors". `names` follow the groups' order."""
    good = [item for item in items if "error" not in item]
    lengths = sorted({item["image"].shape[0] for item in good}, reverse=True)
    groups = [[item for item in good if item["image"].shape[0] == length] for length in lengths]
    ordered = [item for group in groups for item in group]
    return {
        "errors": [item["error"] for item in items if "error" in item],
        "names": [item["name"] for item in ordered],
        "size": len(ordered),
        "image": tuple(torch.stack([item["image"] for item in group]) for group in groups),
        "target": tuple(torch.stack([item["target"] for item in group]) for group in groups),
        "valid": tuple(torch.stack([item["valid"] for item in group]) for group in groups),
        "pseudo": torch.zeros(len(ordered), dtype=torch.bool),
    }


def build_clip_dataset(config: TrainConfig, sources: list[DataSource], key: str, train: bool) -> ClipDataset:
    """The configured training sources as clips (disparity targets, as the relative stages)."""
    data = config.data
    transform = TrainTransform(size=data.size, flip=data.flip, color_jitter=data.color_jitter,
                               hue_jitter=data.hue_jitter, target="disparity", min_depth=data.min_depth, train=train)
    opened = [_ClipSource(source, f"{key}[{i}]", data.clip_frames, data.clip_stride) for i, source in enumerate(sources)]
    return ClipDataset(opened, transform, seed=config.run.seed)


# ----------------------------------------------------------------------------------- validation
def _val_max_depth(layout: str) -> float:
    return next((b.max_depth for b in VIDEO_BENCHMARKS.values() if b.layout == layout), DEFAULT_VAL_MAX_DEPTH)


class ClipValidator:
    """AbsRel, δ1 and TAE on the held-out sequences of `data.val`, each rank scoring its share."""

    def __init__(self, config: TrainConfig, env: DistEnv, device: torch.device, amp_dtype: torch.dtype | None) -> None:
        self.frames, self.size = config.data.clip_frames, config.data.size
        self.device, self.amp_dtype, self.env = device, amp_dtype, env
        self.readers = []
        for i, source in enumerate(config.data.val):
            if not is_sequence_source(source):
                raise ConfigError(f"key 'data.val[{i}]': the temporal stage validates on sequence layouts "
                                  f"({', '.join(sorted(sequence_layouts()))}), got {source.layout!r}")
            try:
                reader = open_sequences(source.layout, source.root, source.split, **source.options)
            except DepthAnythingError as exc:
                raise ConfigError(f"key 'data.val[{i}]': {exc}") from None
            count = len(reader) if source.max_samples is None else min(len(reader), source.max_samples)
            self.readers.append((reader, count, _val_max_depth(source.layout)))
        jobs = [(r, i) for r, (_, count, _) in enumerate(self.readers) for i in range(count)]
        if config.data.max_val_samples is not None:
            jobs = jobs[: config.data.max_val_samples]
        self.jobs = jobs[env.rank :: env.world_size]

    @torch.no_grad()
    def predict(self, model: VideoDepthAnything, images: np.ndarray) -> np.ndarray:
        """Disparity T×H×W at the frames' size for one clip of RGB frames."""
        spec = replace(model.input_spec, input_size=self.size)
        clip = torch.from_numpy(np.stack([preprocess(frame, spec) for frame in images]))[None].to(self.device)
        with autocast(self.device, self.amp_dtype):
            depth = model(clip)[0]
        return resize_depth(depth.float(), images.shape[1:3]).cpu().numpy()

    @torch.no_grad()
    def __call__(self, model: nn.Module) -> dict[str, Any]:
        """d1, abs_rel, tae (means over scored sequences; TAE over posed ones), samples and skipped."""
        model.eval()
        sums = torch.zeros(6, dtype=torch.float64)  # d1, abs_rel, count, tae, posed, skipped
        for reader_index, sequence_index in self.jobs:
            reader, _, max_depth = self.readers[reader_index]
            try:
                sequence = reader[sequence_index]
                frames = min(len(sequence), self.frames)
                row = score_sequence(sequence, self.predict(model, sequence.images[:frames]), max_depth,
                                     max_frames=frames)
            except (DepthAnythingError, OSError, ValueError) as exc:
                log.warning("rank %d: skipped validation sequence %d of %s: %s", self.env.rank, sequence_index,
                            reader.root, exc)
                sums[5] += 1
                continue
            sums[:3] += torch.tensor([row["d1"], row["abs_rel"], 1.0], dtype=torch.float64)
            if not math.isnan(row["tae"]):
                sums[3:5] += torch.tensor([row["tae"], 1.0], dtype=torch.float64)
        total = all_reduce_sum(sums.to(self.device)).cpu()
        count = max(float(total[2]), 1.0)
        tae = float(total[3]) / float(total[4]) if float(total[4]) else math.nan
        return {"d1": float(total[0]) / count, "abs_rel": float(total[1]) / count, "tae": tae,
                "samples": int(total[2]), "skipped": int(total[5])}


def check_temporal_config(config: TrainConfig) -> None:
    """Checks of a temporal config that need the data registries (the layouts of its sources)."""
    if not any(is_sequence_source(source) for source in config.data.train):
        raise ConfigError("key 'data.train': the temporal stage needs at least one sequence source "
                           f"({', '.join(sorted(sequence_layouts()))}); images alone have no time to learn from")
