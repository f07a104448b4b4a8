"""Screenshot of the web demo after one prediction, taken the way the browser test drives the page.

    python tools/screenshot_app.py --model default-metric --out assets/app_screenshot.png   # with the 3-D view
    python tools/screenshot_app.py --model runs/demo/teacher/model.pt --image photo.jpg --input-size 126

Needs the `app` and `test` extras (gradio, playwright) and Debian's `chromium` (apt-get install chromium);
no browser download. The demo runs on a free loopback port for the time of the shot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "app"))  # the browser test's own helpers

import app_browser  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Serve the demo with --model, predict --image in headless Chromium, save the page as --out."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model name or checkpoint (default: the built-in model)")
    parser.add_argument("--image", default=str(ROOT / "assets" / "example.png"), help="image to predict (default: assets/example.png)")
    parser.add_argument("--out", default=str(ROOT / "assets" / "app_screenshot.png"), help="PNG to write")
    parser.add_argument("--input-size", type=int, default=None, help="network input size (default: the model's)")
    parser.add_argument("--chromium", default=app_browser.find_chromium(), help="Chromium binary (default: found on PATH)")
    args = parser.parse_args(argv)
    if not args.chromium:
        parser.error("no Chromium binary found; install Debian's package (apt-get install chromium) or pass --chromium")
    out = app_browser.screenshot_after_prediction(args.model, args.image, args.out, args.chromium, args.input_size)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
