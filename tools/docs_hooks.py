"""MkDocs hooks (mkdocs.yml `hooks:`) that build the pages which must not drift from the code.

- `reference/cli.md` is generated from the argparse parsers (`depth_anything.cli.__main__.build_parser`)
  at every build, so each flag, type, default and help text is the one `depth-anything CMD --help` prints.
- The model registry's table (`<!-- registry-table -->` in a page) is generated from
  `depth_anything.weights.registry`, the table every name is resolved through.
- The package layout (`<!-- package-layout -->`) is generated from the modules' own docstrings and
  the import layers that `tests/test_architecture.py` enforces.
- `assets/*.png` are taken from the repository's `assets/` folder (written by `tools/readme_pictures.py`
  and the other tools named there) at build time, so the site shows the same pictures as the README and
  nothing is copied by hand.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets"
CLI_PAGE = "reference/cli.md"
REGISTRY_MARKER = "<!-- registry-table -->"
LAYOUT_MARKER = "<!-- package-layout -->"
PACKAGE = REPO / "src" / "depth_anything"

_MARKDOWN_SPECIAL = re.compile(r"([\\*_\[\]<>|#])")


def escape_markdown(text: str) -> str:
    """Escape Markdown in help text written for a terminal, leaving `code spans` as they are."""
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: treat the whole text as prose
        return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("`", "\\`")
    return "`".join(part if i % 2 else _MARKDOWN_SPECIAL.sub(r"\\\1", part) for i, part in enumerate(parts))


def _cell(text: str) -> str:
    """One table cell: escaped, on one line."""
    return escape_markdown(" ".join(text.split()))


def _code_cell(text: str) -> str:
    """A table cell in code style (pipes escaped, which a code span in a table needs)."""
    return "`" + text.replace("|", "\\|") + "`"


def _value(action: argparse.Action) -> str:
    """What the option takes: its choices, metavar or type; empty for switches."""
    if action.nargs == 0:
        return ""
    if action.choices is not None:
        text = "{" + ",".join(str(c) for c in action.choices) + "}"
    elif action.metavar is not None:
        text = action.metavar if isinstance(action.metavar, str) else " ".join(action.metavar)
    else:
        text = action.dest.upper()
    type_name = getattr(action.type, "__name__", None) if action.type is not None else None
    if type_name in {"int", "float"} and action.choices is None:
        text = f"{text} ({type_name})"
    if action.nargs in ("+", "*"):
        text += " ..."
    elif action.nargs == "?":
        text = f"[{text}]"
    return text


def _default(action: argparse.Action) -> str:
    """The default as argparse applies it (switches: off/on; no default: a dash)."""
    if action.required:
        return "required"
    if isinstance(action, argparse._StoreTrueAction):
        return "off"
    if isinstance(action, argparse._StoreFalseAction):
        return "on"
    if action.default is None or action.default is argparse.SUPPRESS:
        return "–"
    if isinstance(action.default, (list, tuple)):
        return _code_cell(" ".join(str(v) for v in action.default)) if action.default else "–"
    return _code_cell(str(action.default))


def _help(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text with `%(default)s` and friends expanded exactly as `--help` does."""
    if not action.help:
        return ""
    return parser._get_formatter()._expand_help(action)


def _exclusive_partners(parser: argparse.ArgumentParser) -> dict[argparse.Action, list[str]]:
    """For each option in a mutually exclusive group, the options it cannot be combined with."""
    partners: dict[argparse.Action, list[str]] = {}
    for group in parser._mutually_exclusive_groups:
        for action in group._group_actions:
            partners[action] = [other.option_strings[0] for other in group._group_actions if other is not action]
    return partners


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    """The options and positional arguments of one parser as a Markdown table."""
    partners = _exclusive_partners(parser)
    rows = ["| argument | value | default | description |", "|---|---|---|---|"]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        name = ", ".join(f"`{s}`" for s in action.option_strings) if action.option_strings else f"`{_value(action)}`"
        value = _value(action) if action.option_strings else ""
        description = _cell(_help(parser, action))
        if action in partners:
            others = ", ".join(f"`{p}`" for p in partners[action])
            description = description.rstrip().rstrip(".") + f". Not with {others}."
        rows.append(f"| {name} | {_code_cell(value) if value else ''} | {_default(action)} | {description} |")
    return rows


def _usage(parser: argparse.ArgumentParser) -> str:
    """The usage line argparse prints, wrapped to a page-friendly width."""
    formatter = argparse.HelpFormatter(parser.prog, width=90)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return formatter.format_help().strip()


def _prose(text: str) -> list[str]:
    """Help prose for a terminal, as Markdown: paragraphs kept, lines joined, Markdown escaped."""
    return [escape_markdown(" ".join(block.split())) for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]


def _subcommand_section(name: str, parser: argparse.ArgumentParser) -> list[str]:
    """One subcommand: its description, usage, options table and examples (its epilog)."""
    lines = [f"## `{name}`", ""]
    description = parser.description or ""
    # An "Examples:" block inside a docstring is terminal layout: show it as text, like the epilog.
    prose, _, examples = description.partition("\nExamples:")
    for paragraph in _prose(prose):
        lines += [paragraph, ""]
    lines += ["```text", _usage(parser), "```", ""]
    lines += _options_table(parser) + [""]
    tail = "\n".join(part for part in (("Examples:" + examples) if examples else "", parser.epilog or "") if part)
    if tail.strip():
        lines += ["```text", tail.strip("\n"), "```", ""]
    return lines


def cli_reference() -> str:
    """The command-line reference page, generated from the parsers the command itself uses."""
    from depth_anything.cli.__main__ import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    help_lines = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    lines = [
        "# Command-line reference",
        "",
        "This page is generated from the command's own argparse parsers each time the site is built",
        "(`tools/docs_hooks.py`), so it always matches `depth-anything CMD --help`.",
        "",
        "```text",
        _usage(parser),
        "```",
        "",
        "| command | what it does |",
        "|---|---|",
    ]
    lines += [f"| [`{name}`](#{name}) | {_cell(help_lines.get(name, ''))} |" for name in sub.choices]
    lines.append("")
    for name, subparser in sub.choices.items():
        lines += _subcommand_section(name, subparser)
    return "\n".join(lines)


def _kind(entry: Any) -> str:
    """Relative or metric (with the depth range), and the family where it is not Depth Anything V2."""
    text = f"{entry.kind}, up to {entry.max_depth:g} m" if entry.kind == "metric" and entry.max_depth else entry.kind
    if entry.family not in ("depth-anything-v2", "built-in"):
        text += f" ({entry.family})"
    return text


def _where(entry: Any) -> str:
    """Where the weights come from: a Hugging Face repository (linked) or the package itself."""
    if entry.repo_id is None:
        return f"built into the package: `{entry.filename}`"
    return f"[{entry.repo_id}]({entry.url}): `{entry.filename}`"


def registry_table() -> str:
    """Every registered model name as a Markdown table, from the registry the resolver reads, and the
    rows' notes below it."""
    from depth_anything.weights.registry import REGISTRY

    rows = ["| name | kind | encoder | input | licence | weights |", "|---|---|---|---|---|---|"]
    notes: dict[str, list[str]] = {}
    for name, entry in REGISTRY.items():
        spec = entry.input_spec
        encoder = f"`{entry.encoder}`" + (f", {entry.parameters / 1e6:.1f} M" if entry.parameters else "")
        rows.append(f"| `{name}` | {_kind(entry)} | {encoder} | {spec.input_size} px, ×{spec.size_multiple} | "
                    f"{entry.licence} | {_where(entry)} |")
        if entry.note:
            notes.setdefault(entry.note, []).append(f"`{name}`")
    lines = rows + [""]
    lines += [f"- {', '.join(names)}: {_cell(note)}." for note, names in notes.items()]
    lines.append("")
    lines.append("*input*: the network input's shorter side and the multiple its sides are rounded to (the "
                 "weights' input spec); *parameters* where the registry records them.")
    return "\n".join(lines)


def _first_line(path: Path) -> str:
    """A module's docstring up to its first blank line (its summary), read without importing it."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(docstring.split("\n\n")[0].split())


def _layers() -> dict[str, int]:
    """The import layers `tests/test_architecture.py` enforces (its `LAYERS` literal)."""
    tree = ast.parse((REPO / "tests" / "test_architecture.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "LAYERS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise ValueError("tests/test_architecture.py has no LAYERS table")


def package_layout() -> str:
    """The import layers and a table of every module with its docstring's summary."""
    layers: dict[int, list[str]] = {}
    for name, level in _layers().items():
        layers.setdefault(level, []).append(f"`{name}`")
    lines = [
        "Imports run one way, from the lowest layer up (`tests/test_architecture.py` fails on an upward "
        "import or a cycle, counting imports inside functions):",
        "",
        " → ".join(", ".join(names) for _, names in sorted(layers.items())),
        "",
        "| module | what it is for |",
        "|---|---|",
    ]
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent)
        if any(part.startswith("_") and part != "__init__.py" for part in relative.parts):
            continue
        name = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        lines.append(f"| `{name}` | {_cell(_first_line(path))} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Fill in the generated registry table and package layout where a page asks for them."""
    if REGISTRY_MARKER in markdown:
        markdown = markdown.replace(REGISTRY_MARKER, registry_table())
    if LAYOUT_MARKER in markdown:
        markdown = markdown.replace(LAYOUT_MARKER, package_layout())
    return markdown


def on_files(files: Files, config: Any) -> Files:
    """Add the generated command-line reference and the repository's pictures to the site."""
    files.append(File.generated(config, CLI_PAGE, content=cli_reference()))
    for picture in sorted(ASSETS.glob("*.png")):
        files.append(File.generated(config, f"assets/{picture.name}", abs_src_path=str(picture)))
    return files


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    """`mkdocs serve` also rebuilds when the parsers or the pictures change."""
    server.watch(str(REPO / "src" / "depth_anything" / "cli"))
    server.watch(str(ASSETS))
    return server
