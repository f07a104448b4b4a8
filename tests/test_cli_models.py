"""`depth-anything models`: the registry as a table and as JSON, with licences and where each file is."""

from __future__ import annotations

import json

from depth_anything.cli.__main__ import main
from depth_anything.weights import CACHE_ENV, REGISTRY


def test_models_lists_every_name_with_its_licence_and_where_it_is(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    (tmp_path / "depth_anything_v2_vitb.pth").write_bytes(b"downloaded earlier")
    assert main(["models", "--json"]) == 0
    rows = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert list(rows) == list(REGISTRY)
    assert rows["default"]["where"] == "built-in" and rows["default"]["parameters"] == 7_967_865
    assert rows["vitb"]["where"] == "cached" and rows["vitl"]["where"] == "hub"
    assert rows["vitb"]["licence"] == "CC-BY-NC-4.0" and rows["vits"]["licence"] == "Apache-2.0"
    assert rows["metric-vkitti-vitl"]["max_depth"] == 80.0
    assert main(["models", "--kind", "metric"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "family", "kind", "size", "parameters", "licence", "where"]
    names = [line.split()[0] for line in table[1:]]
    assert names == [n for n, e in REGISTRY.items() if e.kind == "metric"]
    assert any("metric 80 m" in line and "CC-BY-NC-4.0" in line for line in table)
