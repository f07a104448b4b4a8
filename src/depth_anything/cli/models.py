"""List the model names that --model takes: built-in and published, with kind, size and licence.

Where each file is: inside the package (built-in), already in the local cache, or on the Hugging Face
hub (downloaded on first use). Base, Large and Giant files are for non-commercial use only
(CC-BY-NC-4.0); the Small files and the built-in models are Apache-2.0.

  depth-anything models
  depth-anything models --kind metric
  depth-anything models --json
"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `depth-anything models`."""
    parser.add_argument("--kind", choices=("relative", "metric"), help="only relative or only metric models")
    parser.add_argument("--json", action="store_true", help="JSON instead of text: one object per model instead of a table")


def run(args: argparse.Namespace) -> int:
    """Print the registry: a table for people, or JSON lines for programs."""
    from ..weights.registry import REGISTRY
    from ..weights.resolver import resolve

    rows = []
    for name, entry in REGISTRY.items():
        if args.kind is not None and entry.kind != args.kind:
            continue
        resolved = resolve(name)
        where = "built-in" if entry.builtin else ("cached" if resolved.available else "hub")
        rows.append({
            "name": name, "family": entry.family, "kind": entry.kind, "max_depth": entry.max_depth,
            "size": entry.size, "parameters": entry.parameters, "licence": entry.licence, "where": where,
            "file": str(resolved.path), "repository": entry.repo_id,
        })
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    columns = ("name", "family", "kind", "size", "parameters", "licence", "where")
    cells = [[_cell(row, column) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print("  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True)).rstrip())
    for line in cells:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    return 0


def _cell(row: dict, column: str) -> str:
    value = row[column]
    if column == "kind" and row["max_depth"] is not None:
        return f"metric {row['max_depth']:g} m"
    if column == "parameters":
        return "" if value is None else f"{value / 1e6:.1f} M"
    return str(value)
