"""The run's CSV logs: `metrics.csv` (training, one row per `run.log_every` steps) and `val.csv`.

Rows are averaged over the logged steps and over ranks; rank 0 writes. On resume, rows past the
resumed step are dropped, so the log of a resumed run equals that of an uninterrupted one.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import torch

from .distributed import all_reduce_sum

TRAIN_COLUMNS = ("step", "epoch", "lr_encoder", "lr_decoder", "loss", "ssi", "gradient", "feature", "silog",
                 "temporal", "grad_norm", "skipped")
VAL_COLUMNS = ("step", "val_loss", "d1", "abs_rel", "tae", "samples", "skipped")
# the training columns averaged over steps; the others are counters
AVERAGED_COLUMNS = tuple(c for c in TRAIN_COLUMNS if c not in ("step", "epoch", "skipped"))


class CsvLog:
    """Append-only CSV with a fixed header; rows past `truncate_after` are dropped on resume."""

    def __init__(self, path: Path, columns: tuple[str, ...], truncate_after: int | None) -> None:
        self.path, self.columns = path, columns
        rows: list[dict[str, str]] = []
        if truncate_after is not None and path.is_file():
            with path.open(newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(r["step"]) <= truncate_after]
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (floats with 6 significant digits; keys outside the header ignored)."""
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns).writerow(
                {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items() if k in self.columns}
            )


def window_means(window: list[dict[str, float]], device: torch.device, world_size: int) -> dict[str, Any]:
    """Each `AVERAGED_COLUMNS` value averaged over the steps of `window` and over ranks (a collective).

    A column with no finite value in the window (a term not in this stage, or only fp16-skipped steps
    for grad_norm) is "" (written empty) rather than 0.
    """
    local = torch.tensor(
        [[w.get(n, math.nan) for n in AVERAGED_COLUMNS] for w in window], dtype=torch.float64
    ).nanmean(dim=0).nan_to_num(0.0)
    present = [any(math.isfinite(w.get(n, math.nan)) for w in window) for n in AVERAGED_COLUMNS]
    reduced = (all_reduce_sum(local.to(device)) / world_size).cpu()
    values = zip(AVERAGED_COLUMNS, reduced.tolist(), present, strict=True)
    return {name: value if seen else "" for name, value, seen in values}
