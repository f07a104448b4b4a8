"""The library speaks in parameter names (`input_size=`), only `cli/` in flags (`--input-size`), and the
command line shows a library error with the flags that set those parameters."""

from __future__ import annotations

import argparse
import ast
import re
import textwrap
from pathlib import Path

import pytest

from depth_anything.cli.__main__ import build_parser, main
from depth_anything.cli.messages import COMMAND_FLAGS, FLAGS, to_flags

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "depth_anything"
FLAG = re.compile(r"(?<![\w-])--[a-z]")  # "--input-size", not "a--b" or a "---" rule
LOG_METHODS = frozenset({"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"})


def flags_in_messages(source: str) -> list[tuple[int, str]]:
    """(line, text) of every string literal that names a flag inside a raised exception, a logging call
    or `warnings.warn`, following names assigned a string anywhere in the module (a message kept in a
    constant); docstrings and comments are not messages."""
    tree = ast.parse(source)
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                assigned.setdefault(target.id, []).append(value)

    def strings(expr: ast.AST, followed: frozenset[str] = frozenset()) -> list[ast.Constant]:
        found = []
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                found.append(sub)
            elif isinstance(sub, ast.Name) and sub.id in assigned and sub.id not in followed:
                for value in assigned[sub.id]:
                    found += strings(value, followed | {sub.id})
        return found

    hits = []
    for node in ast.walk(tree):
        messages: list[ast.expr] = []
        if isinstance(node, ast.Raise) and node.exc is not None:
            messages.append(node.exc)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOG_METHODS:
            messages += [*node.args, *(keyword.value for keyword in node.keywords)]
        for message in messages:
            hits += [(node.lineno, s.value) for s in strings(message) if FLAG.search(s.value)]
    return hits


def test_no_library_message_names_a_command_line_flag():
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if "cli" not in p.relative_to(PACKAGE).parts]
    assert len(modules) > 50  # the whole library is read, not an empty folder
    found = [f"{path.relative_to(PACKAGE)}:{line}: {text!r}"
             for path in modules for line, text in flags_in_messages(path.read_text(encoding="utf-8"))]
    assert not found, "library messages name flags (word them in parameter names, e.g. input_size=):\n" + \
        "\n".join(found)


def test_the_scan_finds_flags_in_every_kind_of_message_and_not_in_docstrings():
    source = textwrap.dedent('''
        """Module doc: `--input-size` is fine here."""
        import logging, warnings
        log = logging.getLogger(__name__)
        HINT = "use --dynamic"

        def f(size):
            """Docstring naming --height."""
            # a comment naming --width
            if size:
                raise ValueError(f"--input-size {size} is too small")
            if size is None:
                raise ValueError(HINT)
            log.warning("skipped; pass --batch %d", 2)
            warnings.warn("try --fp16")
            raise ValueError("input_size=N, not a flag; a -- dash; x--y")
    ''')
    assert [text for _, text in flags_in_messages(source)] == [
        "--input-size ", "use --dynamic", "skipped; pass --batch %d", "try --fp16",
    ]


@pytest.mark.parametrize(("message", "shown"), [
    ("give either input_size=N (square) or height=H and width=W, not both",
     "give either --input-size N (square) or --height H and --width W, not both"),
    ("batch=0: give a positive integer or 'dynamic'", "--batch 0: give a positive integer or 'dynamic'"),
    ("int8=True and fp16=True exclude each other", "--int8 and --fp16 exclude each other"),
    ("cannot write /x/m.onnx (read-only); choose another path (out=)",
     "cannot write /x/m.onnx (read-only); choose another path (--out)"),
    ("drop dtype= or export again", "drop --dtype or export again"),
    # only `name=` of a known parameter, standing alone, is a parameter
    ("a dynamic batch or size; out of range", "a dynamic batch or size; out of range"),
    ("max_depth=20 in run.out=x at /data/out=1 (layout=nyu)", "max_depth=20 in run.out=x at /data/out=1 (layout=nyu)"),
])
def test_parameter_names_become_flags(message, shown):
    assert to_flags(message) == shown


def test_a_command_that_names_a_parameter_otherwise_shows_its_own_flag():
    message = "out=/x/labels lies inside images=/x: choose another folder (out=)"
    assert to_flags(message, "label") == "--outdir /x/labels lies inside --data /x: choose another folder (--outdir)"
    assert to_flags(message, "export") == "--out /x/labels lies inside images=/x: choose another folder (--out)"


def test_every_flag_of_the_tables_is_a_flag_of_its_command():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices

    def flags_of(*names: str) -> set[str]:
        return {option for name in names for action in commands[name]._actions for option in action.option_strings}

    everywhere = flags_of(*commands)
    assert set(FLAGS.values()) <= everywhere, sorted(set(FLAGS.values()) - everywhere)
    assert all(flag == "--" + name.replace("_", "-") for name, flag in FLAGS.items())
    for command, flags in COMMAND_FLAGS.items():
        assert set(flags.values()) <= flags_of(command), (command, sorted(set(flags.values()) - flags_of(command)))


def test_the_command_line_shows_a_library_error_in_flags(tmp_path, capsys):
    """`label_images` refuses `out=` inside `images=`; `depth-anything label` says --outdir and --data."""
    from depth_anything.errors import ConfigError
    from depth_anything.train.label import label_images

    images = tmp_path / "photos"
    images.mkdir()
    with pytest.raises(ConfigError, match=r"^out=\S+ lies inside images=\S+: "):
        label_images(tmp_path / "teacher.pt", images, images / "labels")
    assert main(["label", "--model", str(tmp_path / "teacher.pt"), "--data", str(images),
                 "--outdir", str(images / "labels"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"depth-anything label: error: --outdir {images / 'labels'} lies inside --data {images}:" in err
    assert "out=" not in err and "images=" not in err
