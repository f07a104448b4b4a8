"""The library's messages in the command line's words: parameter names become the flags that set them.

The library names its parameters the Python way (`input_size=518`, `height=H and width=W`, `resume=True`),
since a Python caller passes them so; a person at the command line sets the same values with flags, so
`main` shows a library error through `to_flags` ("--input-size 518", "--height H and --width W",
"--resume"). Only the `name=` form is translated: a bare word such as "batch" or "out" stays prose.
Where a command names a parameter otherwise (`label` reads `images=` from --data and writes `out=` to
the folder --outdir), `COMMAND_FLAGS` says so.
"""

from __future__ import annotations

import re

# parameter name (as the library's functions spell it) → the flag that sets it
FLAGS: dict[str, str] = {
    "backend": "--backend",
    "batch": "--batch",
    "batch_size": "--batch-size",
    "calibration": "--calibration",
    "calibration_size": "--calibration-size",
    "cmap": "--cmap",
    "device": "--device",
    "dtype": "--dtype",
    "dynamic": "--dynamic",
    "formats": "--formats",
    "fp16": "--fp16",
    "height": "--height",
    "input_size": "--input-size",
    "int8": "--int8",
    "model": "--model",
    "out": "--out",
    "resume": "--resume",
    "target": "--target",
    "width": "--width",
}

# command → the parameters it sets through a flag of another name than `FLAGS` gives
COMMAND_FLAGS: dict[str, dict[str, str]] = {
    "label": {"images": "--data", "out": "--outdir"},
    "oak": {"replay": "--replay", "stereo": "--stereo-align"},
    "convert": {"png_scale": "--scale", "fov_deg": "--fov", "focal_px": "--focal", "kind": "--values"},
    "export": {"frames": "--window"},
}

# `name=` not inside a longer name (max_depth=), a dotted key (run.out=) or a path (/out=);
# `=True` means the switch itself; group 3 is the character after the `=`
_NAMES = sorted({*FLAGS, *(name for names in COMMAND_FLAGS.values() for name in names)}, key=len, reverse=True)
_PARAMETER = re.compile(r"(?<![\w.\-/\\])(" + "|".join(map(re.escape, _NAMES)) + r")=(True\b)?(?=(.?))")
_ENDS_VALUE = frozenset(" \t\n,;:)]}")


def to_flags(message: str, command: str | None = None) -> str:
    """`message` with each `parameter=` written as the flag that sets it (in `command`, when given)."""
    flags = {**FLAGS, **COMMAND_FLAGS.get(command or "", {})}

    def flag(match: re.Match[str]) -> str:
        if match[1] not in flags:
            return match[0]
        if match[2] or not match[3] or match[3] in _ENDS_VALUE:
            return flags[match[1]]  # a switch, or the name alone ("choose another path (out=)")
        return f"{flags[match[1]]} "  # the value follows: "input_size=518" → "--input-size 518"

    return _PARAMETER.sub(flag, message)


__all__ = ["COMMAND_FLAGS", "FLAGS", "to_flags"]
