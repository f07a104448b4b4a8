"""The loss settings training actually uses, and that they reach the loss computation.

Paper values: the 10% largest per-pixel losses of a pseudo-labeled sample are ignored (trim_fraction
0.1), feature alignment ignores tokens whose cosine similarity is above α = 0.85, SSI : gradient =
1 : 2 with the gradient loss over 4 scales, SiLog λ = 0.5. They are pinned in the config defaults,
in the shipped configs and in the loss functions' defaults, and the objective assembled from a config
is compared with a loss written out by hand here (not with the library's own functions).

The trainer is being split into modules: `objective` below is the one place that knows where the
loss assembly lives.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from depth_anything.train.config import LossSection, TrainConfig, config_from_dict, load_config
from depth_anything.train.losses import (
    feature_alignment_loss,
    gradient_matching_loss,
    relative_depth_loss,
    silog_loss,
    ssi_loss,
    trim_mask,
)

PAPER = dict(ssi_weight=1.0, gradient_weight=2.0, gradient_scales=4, trim_fraction=0.1, feature_weight=1.0,
             feature_margin=0.85, silog_lambda=0.5)
CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
LAYER_INDICES = (0, 1, 2, 3)


def objective(cfg: TrainConfig, batch: dict, depth: torch.Tensor, feature=None, reference=None):
    """The training loss for `cfg` on a batch: (batch loss, per-sample terms). `reference` is the
    frozen encoder's tokens at the aligned layer (None: no feature alignment).

    While the trainer is being split, the loss assembly exists as `Trainer._losses` and/or as
    `train.objective.Objective`; every one present is run and they must agree."""

    class FrozenReference:
        def get_intermediate_layers(self, image, indices):
            assert list(indices) == [max(LAYER_INDICES)]
            return [(reference, None)]

    frozen = None if reference is None else FrozenReference()
    results = []
    try:
        from depth_anything.train.objective import Objective
    except ImportError:
        Objective = None  # noqa: N806
    if Objective is not None:
        results.append(Objective(cfg, frozen, max(LAYER_INDICES), torch.device("cpu"), None)(batch, depth, feature))
    from depth_anything.train.trainer import Trainer

    if hasattr(Trainer, "_losses"):
        fake = SimpleNamespace(
            cfg=cfg, reference=frozen, _autocast=nullcontext,
            model=SimpleNamespace(config=SimpleNamespace(layer_indices=LAYER_INDICES)),
        )
        results.append(Trainer._losses(fake, batch, depth, feature))
    assert results, "no loss assembly found (update this helper to the trainer's new layout)"
    loss, terms = results[0]
    for other_loss, other_terms in results[1:]:
        torch.testing.assert_close(other_loss, loss)
        assert set(other_terms) == set(terms)
    return loss, terms


# ------------------------------------------------------------------------------- the loss by hand
def hand_normalize(x: torch.Tensor) -> torch.Tensor:
    """(x − median) / mean|x − median| over all pixels (an odd count, so the median is one pixel)."""
    assert x.numel() % 2 == 1
    median = x.flatten().sort().values[x.numel() // 2]
    return (x - median) / (x - median).abs().mean()


def hand_relative(pred: torch.Tensor, target: torch.Tensor, trim: float, ssi_w: float, grad_w: float, scales: int):
    """SSI (after dropping the `trim` share of largest pixel losses) + multi-scale gradient matching of
    the normalised residual over the kept pixels, for one H×W sample with every pixel valid."""
    residual = hand_normalize(pred.double()) - hand_normalize(target.double())
    pixel = residual.abs()
    keep = math.ceil((1.0 - trim) * pixel.numel())
    threshold = pixel.flatten().sort().values[keep - 1]
    kept = pixel <= threshold
    assert int(kept.sum()) == keep  # distinct losses: exactly the largest ones are dropped
    ssi = pixel[kept].mean()
    gradient = torch.zeros((), dtype=torch.float64)
    for k in range(scales):
        step = 2**k
        r = torch.where(kept, residual, 0.0)[::step, ::step]
        m = kept[::step, ::step]
        gx = ((r[:, 1:] - r[:, :-1]).abs() * (m[:, 1:] & m[:, :-1])).sum()
        gy = ((r[1:] - r[:-1]).abs() * (m[1:] & m[:-1])).sum()
        gradient = gradient + (gx + gy) / m.sum()
    return ssi_w * ssi + grad_w * gradient, ssi, gradient


def hand_feature(student: torch.Tensor, reference: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean of 1 − cos over the tokens whose cosine similarity is below the margin, for one sample."""
    s, r = student.double(), reference.double()
    cosine = (s * r).sum(-1) / (s.norm(dim=-1) * r.norm(dim=-1))
    keep = cosine < margin
    return (1.0 - cosine)[keep].mean()


def hand_silog(pred: torch.Tensor, target: torch.Tensor, lam: float) -> torch.Tensor:
    g = torch.log(target.double()) - torch.log(pred.double())
    return torch.sqrt((g * g).mean() - lam * g.mean() ** 2)


# ------------------------------------------------------------------------------------------ data
SIZE = 33  # odd pixel count; the 4th gradient scale (every 8th pixel) still has a 5×5 grid


def _batch(seed: int = 0, pseudo=(True, False)) -> tuple[dict, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    batch_size = len(pseudo)
    target = torch.rand(batch_size, SIZE, SIZE, generator=generator) + 0.5
    pred = target + 0.3 * torch.randn(batch_size, SIZE, SIZE, generator=generator)
    pred = pred.abs() + 0.05
    batch = {"target": target, "valid": torch.ones(batch_size, SIZE, SIZE, dtype=torch.bool),
             "pseudo": torch.tensor(pseudo), "image": torch.zeros(batch_size, 3, 14, 14), "names": ["a", "b"][:batch_size]}
    return batch, pred


def _features(seed: int = 1, batch: int = 2, tokens: int = 64, channels: int = 8):
    """Student and reference tokens whose cosine similarities spread over (−1, 1), many near 0.85."""
    generator = torch.Generator().manual_seed(seed)
    reference = torch.randn(batch, tokens, channels, generator=generator)
    noise = torch.randn(batch, tokens, channels, generator=generator)
    mix = torch.linspace(0.05, 2.0, tokens).view(1, tokens, 1)
    student = reference + mix * noise
    return student, reference


def _config(stage: str = "teacher", **loss) -> TrainConfig:
    return TrainConfig(stage=stage, loss=replace(LossSection(), **loss))


# -------------------------------------------------------------------------------- pinned defaults
def test_loss_section_defaults_are_the_papers():
    section = LossSection()
    assert {key: getattr(section, key) for key in PAPER} == PAPER
    assert TrainConfig().loss == section
    data = {"data": {"train": [{"layout": "folder", "root": "x"}]}, "model": {"encoder": "vits"}}
    assert config_from_dict(data).loss == section


# Video Depth Anything's published loss for the temporal stage: per frame SSI + 0.5 × gradient, per clip
# 10 × temporal gradient matching (the DA V2 paper's other settings unchanged)
VDA_PAPER = {**PAPER, "gradient_weight": 0.5, "temporal_weight": 10.0}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_train_with_the_papers_loss_settings(path):
    config = load_config(path)
    paper = VDA_PAPER if config.stage == "temporal" else PAPER
    assert {key: getattr(config.loss, key) for key in paper} == paper


def test_loss_function_defaults_are_the_papers():
    batch, pred = _batch()
    target, mask = batch["target"].double(), batch["valid"]
    total = relative_depth_loss(pred.double(), target, mask)
    explicit = ssi_loss(pred.double(), target, mask) + 2.0 * gradient_matching_loss(pred.double(), target, mask, scales=4)
    torch.testing.assert_close(total.total, explicit)
    student, reference = _features()
    torch.testing.assert_close(feature_alignment_loss(student, reference), feature_alignment_loss(student, reference, 0.85))
    torch.testing.assert_close(silog_loss(pred, batch["target"], mask), silog_loss(pred, batch["target"], mask, 0.5))
    pixel = torch.rand(1, 10, 10, generator=torch.Generator().manual_seed(3))
    assert int(trim_mask(pixel, torch.ones(1, 10, 10, dtype=torch.bool)).sum()) == 90


def test_trim_mask_drops_exactly_the_largest_tenth():
    losses = torch.randperm(200, generator=torch.Generator().manual_seed(4)).double().view(2, 10, 10)
    kept = trim_mask(losses, torch.ones(2, 10, 10, dtype=torch.bool), 0.1)
    for sample in range(2):
        assert int(kept[sample].sum()) == 90
        assert losses[sample][kept[sample]].max() < losses[sample][~kept[sample]].min()


# --------------------------------------------------------------- the config reaches the objective
@pytest.mark.parametrize(
    "loss", [{}, {"trim_fraction": 0.25}, {"gradient_weight": 0.5}, {"ssi_weight": 3.0}, {"gradient_scales": 2}],
    ids=["paper", "trim", "gradient_weight", "ssi_weight", "scales"],
)
def test_relative_objective_equals_the_hand_assembled_loss(loss):
    settings = {**PAPER, **loss}
    batch, pred = _batch()
    total, terms = objective(_config(**loss), batch, pred)
    per_sample = []
    for i, pseudo in enumerate(batch["pseudo"].tolist()):
        trim = settings["trim_fraction"] if pseudo else 0.0  # only pseudo-labels are trimmed
        value, ssi, gradient = hand_relative(pred[i], batch["target"][i], trim, settings["ssi_weight"],
                                             settings["gradient_weight"], settings["gradient_scales"])
        per_sample.append(value)
        assert float(terms["ssi"][i]) == pytest.approx(float(ssi), rel=1e-5)
        assert float(terms["gradient"][i]) == pytest.approx(float(gradient), rel=1e-5)
    assert float(total) == pytest.approx(float(sum(per_sample) / len(per_sample)), rel=1e-5)


def test_every_relative_setting_changes_the_objective():
    batch, pred = _batch()
    paper = float(objective(_config(), batch, pred)[0])
    for change in ({"trim_fraction": 0.2}, {"gradient_weight": 1.0}, {"ssi_weight": 0.5}, {"gradient_scales": 3}):
        assert float(objective(_config(**change), batch, pred)[0]) != pytest.approx(paper, rel=1e-4), change


@pytest.mark.parametrize("loss", [{}, {"feature_margin": 0.6}, {"feature_weight": 0.3}], ids=["paper", "margin", "weight"])
def test_student_objective_adds_feature_alignment_on_pseudo_labels(loss):
    settings = {**PAPER, **loss}
    batch, pred = _batch()
    student, reference = _features()
    total, terms = objective(_config("student", **loss), batch, pred, feature=student, reference=reference)
    without = float(objective(_config("student", **loss), batch, pred)[0])
    feat = [hand_feature(student[i], reference[i], settings["feature_margin"]) for i in range(2)]
    for i in range(2):
        assert float(terms["feature"][i]) == pytest.approx(float(feat[i]), rel=1e-5)
    # averaged over the pseudo-labeled samples only (sample 0 here)
    assert float(total) == pytest.approx(without + settings["feature_weight"] * float(feat[0]), rel=1e-5)


def test_feature_margin_is_0_85():
    student, reference = _features()
    at_paper = hand_feature(student[0], reference[0], 0.85)
    assert float(hand_feature(student[0], reference[0], 0.9)) != pytest.approx(float(at_paper), rel=1e-4)
    batch, pred = _batch()
    _, terms = objective(_config("student"), batch, pred, feature=student, reference=reference)
    assert float(terms["feature"][0]) == pytest.approx(float(at_paper), rel=1e-5)


@pytest.mark.parametrize("lam", [None, 0.3])
def test_metric_objective_is_silog_with_the_configured_lambda(lam):
    batch, pred = _batch(pseudo=(False, False))
    cfg = _config("metric") if lam is None else _config("metric", silog_lambda=lam)
    total, terms = objective(cfg, batch, pred)
    expected = [hand_silog(pred[i], batch["target"][i], 0.5 if lam is None else lam) for i in range(2)]
    for i in range(2):
        assert float(terms["silog"][i]) == pytest.approx(float(expected[i]), rel=1e-5)
    assert float(total) == pytest.approx(float(sum(expected) / 2), rel=1e-5)
    if lam is not None:
        assert float(total) != pytest.approx(float(objective(_config("metric"), batch, pred)[0]), rel=1e-4)
