"""One meaning per flag: every flag that two subcommands share has the same type, action, nargs, choices,
destination and help (the help's details after a colon or in parentheses may differ); old spellings that meant
something else somewhere are hidden aliases, each declared below; defaults come from the library's
constants; every command that runs a model opens it through `cli.options.open_predictor_from_args`."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pytest

from depth_anything.cli import options
from depth_anything.cli.__main__ import SUBCOMMANDS, build_parser, main

# Hidden aliases: spellings kept so that existing scripts still run, left out of --help and the reference.
# Each was the command's own name for the visible flag it now aliases; some meant something else in other
# commands (which is why they are hidden), so this table is the one place a flag may differ.
HIDDEN_ALIASES: dict[tuple[str, str], str] = {
    ("predict", "--out"): "--outdir",
    ("video", "--out"): "--outdir",
    ("pointcloud", "--out"): "--outdir",
    ("mesh", "--out"): "--outdir",
    ("label", "--out"): "--outdir",
    ("synth", "--out"): "--outdir",
    ("sample-photos", "--out"): "--outdir",
    ("oak", "--out"): "--outdir",
    ("label", "--images"): "--data",
    ("label", "--format"): "--label-format",
    ("contact-sheet", "--tile"): "--cell-height",
    ("synth", "--quiet"): "--no-progress",
}


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, as `depth-anything` builds them."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _core(help_text: str | None) -> str:
    """What a help text says the flag is: the text before its details, which follow a colon or stand in
    parentheses (defaults, examples, what this command keeps there), as `cli.options` writes them."""
    text = help_text or ""
    while True:
        shorter = re.sub(r"\([^()]*\)", "", text)
        if shorter == text:
            break
        text = shorter
    return " ".join(text.split(":")[0].split()).rstrip(" ,;")


def meaning(action: argparse.Action) -> dict[str, object]:
    """What a flag means, as far as argparse can tell: compared between commands."""
    return {
        "action": type(action).__name__, "dest": action.dest, "nargs": action.nargs, "const": action.const,
        "type": action.type, "choices": tuple(action.choices) if action.choices is not None else None,
        "help": _core(action.help),
    }


def flag_conflicts(parsers: dict[str, argparse.ArgumentParser], hidden: dict[tuple[str, str], str]) -> list[str]:
    """Every way in which `parsers` give one flag name more than one meaning; empty when all agree."""
    problems: list[str] = []
    seen: dict[str, tuple[str, dict[str, object]]] = {}  # visible flag → (first command, its meaning)
    found_hidden: set[tuple[str, str]] = set()
    for command, parser in parsers.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or not action.option_strings:
                continue
            aliases = set(getattr(action, "hidden_aliases", ()))
            for name in action.option_strings:
                if name in aliases:
                    found_hidden.add((command, name))
                    visible = action.option_strings[0]
                    if hidden.get((command, name)) != visible:
                        problems.append(f"{command} {name}: a hidden alias of {visible}, not declared in HIDDEN_ALIASES")
                    continue
                if action.help == argparse.SUPPRESS:
                    problems.append(f"{command} {name}: hidden without hide_aliases (declare it as an alias)")
                    continue
                here = meaning(action)
                if name not in seen:
                    seen[name] = (command, here)
                    continue
                first, there = seen[name]
                differing = [key for key in here if here[key] != there[key]]
                if differing:
                    problems.append(f"{name} means different things in {first} and {command}: " + "; ".join(
                        f"{key} {there[key]!r} vs {here[key]!r}" for key in differing))
    for key in sorted(set(hidden) - found_hidden):
        problems.append(f"{key[0]} {key[1]}: declared in HIDDEN_ALIASES but not a hidden alias there")
    return problems


def test_every_shared_flag_has_one_meaning():
    parsers = subcommand_parsers()
    assert set(parsers) == set(SUBCOMMANDS)
    assert flag_conflicts(parsers, HIDDEN_ALIASES) == []


def test_the_check_sees_a_conflicting_flag():
    """Two commands giving --out different meanings (a folder of type str, a file of type Path), a
    hidden spelling nobody declared, and a help text that says another thing are each reported."""
    one, two = argparse.ArgumentParser(), argparse.ArgumentParser()
    one.add_argument("--out", help="output folder (default outputs)")
    two.add_argument("--out", type=Path, help="output folder")
    one.add_argument("--count", type=options.IntAtLeast(1), help="number of samples")
    two.add_argument("--count", type=options.IntAtLeast(0), help="number of samples")
    one.add_argument("--seed", type=int, help="random seed")
    two.add_argument("--seed", type=int, help="random seed of the model's initialisation")
    options.hide_aliases(two.add_argument("--no-progress", "--quiet", action="store_true", help="no progress bar"),
                         "--quiet")
    problems = flag_conflicts({"one": one, "two": two}, {})
    assert any(p.startswith("--out means different things in one and two: type") for p in problems), problems
    assert any(p.startswith("--count means different things") and "IntAtLeast(low=1)" in p for p in problems), problems
    assert any(p.startswith("--seed means different things") and "help" in p for p in problems), problems
    assert any("two --quiet: a hidden alias of --no-progress, not declared" in p for p in problems), problems
    assert flag_conflicts({"one": one}, {("one", "--gone"): "--out"}) == [
        "one --gone: declared in HIDDEN_ALIASES but not a hidden alias there"]


def test_hidden_aliases_still_work_and_stay_out_of_help(capsys):
    parsers = subcommand_parsers()
    for (command, alias), visible in HIDDEN_ALIASES.items():
        parser = parsers[command]
        action = next(a for a in parser._actions if alias in a.option_strings)
        assert action.option_strings[0] == visible
        assert not re.search(rf"{alias}(?![\w-])", parser.format_help()), (command, alias)
    args = parsers["label"].parse_args(["--images", "photos", "--out", "labels", "--format", "png16"])
    assert (args.data, args.outdir, args.label_format) == ("photos", "labels", "png16")
    args = parsers["contact-sheet"].parse_args(["--data", "d", "--out", "sheet.png", "--tile", "64"])
    assert (args.cell_height, args.out) == (64, "sheet.png")
    assert parsers["synth"].parse_args(["--out", "d", "--count", "1", "--quiet"]).no_progress is True
    assert parsers["predict"].parse_args(["a.jpg", "--out", "depth"]).outdir == "depth"


def test_outdir_is_a_folder_and_out_a_file_everywhere():
    for command, parser in subcommand_parsers().items():
        for action in parser._actions:
            if "--outdir" in action.option_strings:
                assert action.metavar == "DIR" and "folder" in action.help, command
            elif action.option_strings and action.option_strings[0] == "--out":
                assert action.metavar == "FILE" and "file" in action.help, command


def test_defaults_and_choices_come_from_the_library():
    from depth_anything.data.pseudo import ENCODINGS
    from depth_anything.export import DEFAULT_OPSET, FORMATS, RVC2_OPSET, TARGETS
    from depth_anything.export.quantize import DEFAULT_CALIBRATION_SIZE
    from depth_anything.inference.runtimes import BACKENDS
    from depth_anything.inference.video import NORMALIZATIONS
    from depth_anything.loading import AUTO
    from depth_anything.pictures import DEFAULT_CMAP

    parsers = subcommand_parsers()

    def action(command: str, flag: str) -> argparse.Action:
        return next(a for a in parsers[command]._actions if flag in a.option_strings)

    for command in ("predict", "video"):
        assert action(command, "--cmap").default == DEFAULT_CMAP
    for command in ("predict", "video", "pointcloud", "eval", "label", "app"):
        assert action(command, "--backend").default == AUTO
        assert tuple(action(command, "--backend").choices) == (AUTO, *BACKENDS)
    assert action("export", "--opset").default is None  # per target: the library's DEFAULT_OPSET or RVC2_OPSET
    assert f"default {DEFAULT_OPSET}; {RVC2_OPSET} with --target rvc2" in action("export", "--opset").help
    assert tuple(action("export", "--target").choices) == TARGETS
    assert tuple(action("export", "--format").choices) == FORMATS
    assert str(DEFAULT_CALIBRATION_SIZE) in action("export", "--calibration-size").help
    assert tuple(action("label", "--label-format").choices) == tuple(ENCODINGS)
    assert tuple(action("video", "--normalize").choices) == tuple(NORMALIZATIONS)


class Opened(Exception):
    """Raised by the stand-in for `open_predictor_from_args`: the command got as far as opening a model."""


def _photo(path: Path) -> Path:
    from depth_anything.outputs import write_png

    return write_png(path, np.zeros((16, 16, 3), np.uint8))


@pytest.mark.parametrize("command", ["predict", "video", "pointcloud", "eval", "label"])
def test_every_model_command_opens_its_model_through_the_one_helper(command, tmp_path, monkeypatch):
    calls = []

    def stand_in(args, *positional, **keywords):
        calls.append(args.model)
        raise Opened

    monkeypatch.setattr(options, "open_predictor_from_args", stand_in)
    photo = str(_photo(tmp_path / "in" / "a.png"))
    argv = {
        "predict": ["predict", photo, "--outdir", str(tmp_path / "o")],
        "video": ["video", str(tmp_path / "in"), "--outdir", str(tmp_path / "o")],
        "pointcloud": ["pointcloud", photo, "--outdir", str(tmp_path / "o")],
        "eval": ["eval", "--benchmark", "middlebury"],
        "label": ["label", "--data", str(tmp_path / "in"), "--outdir", str(tmp_path / "o"), "--device", "cpu"],
    }[command]
    with pytest.raises(Opened):
        main([*argv, "--model", "some-model"])
    assert calls == ["some-model"]


def test_the_web_demo_opens_its_models_through_the_one_helper(monkeypatch):
    pytest.importorskip("gradio")
    from depth_anything.app import demo as app_demo

    calls = []

    def stand_in(args, *positional, **keywords):
        calls.append((args.model, args.backend, args.batch_size))
        raise Opened

    class Stop(Exception):
        pass

    def no_demo(chooser, **keywords):
        raise Stop

    monkeypatch.setattr(options, "open_predictor_from_args", stand_in)
    monkeypatch.setattr(app_demo, "build_demo", no_demo)
    with pytest.raises(Stop):
        main(["app", "--model", "mine", "--backend", "torch"])
    assert calls[0] == ("mine", "torch", 1)  # the model asked for first, on the backend asked for
    assert len(calls) == 3  # then each built-in model, all failing here


def test_sample_photos_is_a_command(tmp_path, capsys):
    from depth_anything.data.sample_photos import shipped_photo_paths
    from depth_anything.io import load_image

    photos = shipped_photo_paths()
    if not photos:
        pytest.skip("no package that ships photos is installed")
    assert main(["sample-photos", "--outdir", str(tmp_path / "v"), "--views", "2", "--short-side", "24"]) == 0
    written = sorted((tmp_path / "v").glob("*.png"))
    assert len(written) == 2 * len(photos)
    assert min(load_image(written[0]).shape[:2]) == 24
    assert f"{len(written)} views of {len(photos)} photos written" in capsys.readouterr().out
