"""The documentation holds: the site builds with `mkdocs build --strict`, the command-line reference is
generated from the parsers, every ```bash and ```python block of the README and of docs/ runs (unless a
`<!-- norun: REASON -->` line before it says why it cannot), and the README stays a short front page
whose test command is the one CI runs."""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
README = REPO / "README.md"
CI_SCRIPT = REPO / ".ci" / "run"
PAGES = [README, *sorted(DOCS.rglob("*.md"))]
RUNNABLE = ("bash", "python")
README_MAX_LINES = 200
BLOCK_TIMEOUT_S = 300

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
NORUN = re.compile(r"^\s*<!--\s*norun:(?P<reason>.*?)-->\s*$")


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block of a page: its language, code, and the reason it must not run (None: it runs)."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    norun: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language in RUNNABLE and self.norun is None


def parse_blocks(text: str, page: Path) -> tuple[list[CodeBlock], list[int]]:
    """The page's fenced code blocks and the lines of `norun` markers that precede no block."""
    lines = text.splitlines()
    blocks: list[CodeBlock] = []
    orphans: list[int] = []
    marker: tuple[int, str] | None = None  # (line, reason) of a norun marker waiting for its block
    i = 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if fence is None:
            found = NORUN.match(lines[i])
            if found is not None or lines[i].strip():
                if marker is not None:
                    orphans.append(marker[0])
                marker = (i + 1, found["reason"].strip()) if found is not None else None
            i += 1
            continue
        indent, mark = fence["indent"], fence["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not re.fullmatch(rf"[ \t]*{re.escape(mark[0])}{{{len(mark)},}}[ \t]*", lines[j]):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        language = (fence["info"].split() or [""])[0].lower()
        blocks.append(CodeBlock(page, i + 1, language, "\n".join(body) + "\n", marker[1] if marker else None))
        marker = None
        i = j + 1
    if marker is not None:
        orphans.append(marker[0])
    return blocks, orphans


def page_blocks(page: Path) -> list[CodeBlock]:
    return parse_blocks(page.read_text(encoding="utf-8"), page)[0]


RUNNABLE_PAGES = [page for page in PAGES if any(block.runs for block in page_blocks(page))]


# --- the block parser itself -------------------------------------------------------------------------


def test_parser_finds_blocks_markers_and_indented_fences():
    text = "\n".join([
        "intro",
        "```bash",
        "echo one",
        "```",
        "<!-- norun: needs a camera -->",
        "",
        "```python",
        "open_camera()",
        "```",
        "1. a list item:",
        "",
        "    ```python",
        "    print('indented')",
        "    ```",
        "```text",
        "never runs",
        "```",
        "<!-- norun: nothing follows -->",
        "a paragraph",
    ])
    blocks, orphans = parse_blocks(text, REPO / "x.md")
    assert [(b.language, b.runs, b.norun) for b in blocks] == [
        ("bash", True, None), ("python", False, "needs a camera"), ("python", True, None), ("text", False, None),
    ]
    assert blocks[2].code == "print('indented')\n"
    assert orphans == [18]


def test_every_norun_marker_gives_a_reason_and_precedes_a_block():
    problems = []
    for page in PAGES:
        blocks, orphans = parse_blocks(page.read_text(encoding="utf-8"), page)
        problems += [f"{page.relative_to(REPO)}:{line}: norun marker before no code block" for line in orphans]
        problems += [f"{b.where}: norun marker without a reason" for b in blocks if b.norun == ""]
    assert not problems, "\n".join(problems)


# --- running the blocks ------------------------------------------------------------------------------


def _pan_video(photo: np.ndarray, path: Path, frames: int = 12, size: tuple[int, int] = (320, 240)) -> None:
    """A short H.264 pan across `photo`, the `clip.mp4` the video examples name."""
    av = pytest.importorskip("av", reason="the docs' video examples need PyAV (the test extra)")
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            left = round((photo.shape[1] - width) * i / (frames - 1))
            frame = np.ascontiguousarray(photo[:height, left:left + width])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture(scope="module")
def example_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the examples name: photo.jpg, photos/ (the photos Python packages ship) and clip.mp4."""
    from depth_anything.data.sample_photos import shipped_photo_paths
    from depth_anything.io import load_image

    root = tmp_path_factory.mktemp("doc_examples")
    photos = {path.name: path for path in shipped_photo_paths()}
    if "china.jpg" not in photos:
        pytest.skip("scikit-learn's china.jpg (the examples' photo.jpg) is not installed")
    (root / "photos").mkdir()
    for name, path in photos.items():
        shutil.copy(path, root / "photos" / name)
    shutil.copy(photos["china.jpg"], root / "photo.jpg")
    _pan_video(load_image(root / "photo.jpg"), root / "clip.mp4")
    return root


def run_block(block: CodeBlock, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    if block.language == "bash":
        command = ["bash", "-e", "-o", "pipefail", "-c", block.code]
    else:
        command = [sys.executable, "-c", block.code]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)


@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=[str(p.relative_to(REPO)) for p in RUNNABLE_PAGES])
def test_code_blocks_run(page: Path, example_files: Path, tmp_path: Path):
    """The page's runnable blocks, in order, in one scratch folder holding what the examples name."""
    work = tmp_path / "work"
    shutil.copytree(example_files, work)
    for name in ("assets", "configs"):
        (work / name).symlink_to(REPO / name, target_is_directory=True)
    (tmp_path / "cache").mkdir()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",  # a block that needs a download fails instead of reaching the network
        "DEPTH_ANYTHING_CACHE": str(tmp_path / "cache"),
        "MPLBACKEND": "Agg",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    for block in (b for b in page_blocks(page) if b.runs):
        result = run_block(block, work, env)
        assert result.returncode == 0, (
            f"{block.where}: the {block.language} block failed (exit {result.returncode}); fix it, or mark it "
            f"<!-- norun: REASON -->\n--- code\n{block.code}--- stdout\n{result.stdout[-3000:]}\n"
            f"--- stderr\n{result.stderr[-3000:]}"
        )


# --- the README as a front page ----------------------------------------------------------------------


def test_readme_is_a_short_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def _test_command(lines: list[str], where: str) -> str:
    found = [line.strip() for line in lines if "python -m pytest" in line and not line.lstrip().startswith("#")]
    assert len(found) == 1, f"{where}: expected one test command line, found {found}"
    return found[0]


def test_readme_test_command_is_what_ci_runs():
    readme_blocks = [b for b in page_blocks(README) if b.language == "bash"]
    readme = _test_command([line for b in readme_blocks for line in b.code.splitlines()], "README.md")
    ci = _test_command(CI_SCRIPT.read_text(encoding="utf-8").splitlines(), ".ci/run")
    assert readme == ci
    assert "docs" in re.search(r'\.\[([^\]]*)\]', readme)[1].split(","), "the docs extra builds the site in CI"


def _expand(pattern: str) -> list[str]:
    """Brace patterns as the README writes them: `metric-{hypersim,vkitti}-{vits,vitb}` → four names."""
    parts = re.split(r"\{([^}]*)\}", pattern)
    choices = [[part] if i % 2 == 0 else part.split(",") for i, part in enumerate(parts)]
    return ["".join(combo) for combo in itertools.product(*choices)]


def readme_model_rows() -> list[tuple[list[str], str, str]]:
    """The README's model table as (names, parameters cell, licence cell); "as above" takes the row above."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("## Models"):].split("\n\n")[1]
    rows, parameters, licence = [], "", ""
    for line in table.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        names = [name for code in re.findall(r"`([^`]+)`", cells[0]) for name in _expand(code)]
        parameters = parameters if cells[2] == "as above" else cells[2]
        licence = licence if cells[3] == "as above" else cells[3]
        rows.append((names, parameters, licence))
    return rows


def test_readme_model_table_agrees_with_the_registry():
    """Every name in the README's table is registered, with the licence and parameter count it states."""
    from depth_anything.weights.registry import REGISTRY

    rows = readme_model_rows()
    assert sum(len(names) for names, _, _ in rows) >= 20
    for names, parameters, licence in rows:
        for name in names:
            assert name in REGISTRY, f"README model table: {name!r} is not a registered name"
            entry = REGISTRY[name]
            assert entry.licence in licence, f"README model table: {name} is {entry.licence}, the row says {licence}"
            if entry.parameters:
                assert f"{entry.parameters / 1e6:.1f} M" in parameters, f"README: {name} has {entry.parameters} parameters"


# --- the site ----------------------------------------------------------------------------------------


def _subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    from depth_anything.cli.__main__ import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_cli_reference_is_generated_from_every_parser(monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("mkdocs", reason="the docs extra builds the site")
    monkeypatch.syspath_prepend(str(REPO / "tools"))
    import docs_hooks

    page = docs_hooks.cli_reference()
    for name, parser in _subcommand_parsers().items():
        section = page.split(f"## `{name}`\n", 1)[1].split("\n## `", 1)[0]
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in section, f"{name}: {option} missing from the command-line reference"


def test_site_builds_strictly(tmp_path: Path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason="the docs extra (mkdocs-material, mkdocstrings) builds the site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(REPO / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}"
    cli = (tmp_path / "site" / "reference" / "cli.html").read_text(encoding="utf-8")
    assert all(f'id="{name}"' in cli for name in _subcommand_parsers())
    api = (tmp_path / "site" / "reference" / "api.html").read_text(encoding="utf-8")
    assert "open_predictor" in api and "Predictor" in api
    assert (tmp_path / "site" / "assets" / "quickstart_side.png").is_file()
