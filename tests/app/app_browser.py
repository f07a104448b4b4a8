"""Drive the web demo in a real headless Chromium (Debian's `chromium`) through Playwright.

Shared by tests/app/test_app_browser.py and tools/screenshot_app.py, so the screenshot in the README
is taken by exactly the code path that the browser test checks. Imported by name (`app_browser`).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
UPLOAD = "#input-file input[type=file]"


def find_chromium() -> str | None:
    """The path of an installed Chromium or Chrome binary, or None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_demo(model: str, input_size: int | None = None, device: str = "cpu", **build_options: Any) -> Iterator[str]:
    """The demo with `model` first in its list (as `depth-anything app --model` starts it), served on a
    free loopback port from a thread; yields its URL and closes it afterwards."""
    from depth_anything.app import ModelChooser, build_demo, launch_demo, model_sources, startup_notice
    from depth_anything.app.processing import BUILTIN_MODELS

    chooser = ModelChooser(model_sources(model), device=device, input_size=input_size)
    initial, failures = chooser.first_available([model, *BUILTIN_MODELS])
    demo = build_demo(chooser, initial_model=initial, notice=startup_notice(initial, failures), **build_options)
    try:
        yield launch_demo(demo, "127.0.0.1", free_port(), block=False, quiet=True)
    finally:
        demo.close()


@contextlib.contextmanager
def open_page(url: str, chromium: str, width: int = 1280, height: int = 1000) -> Iterator[Any]:
    """A Playwright page of headless `chromium` at `url`; `page.requested_urls` lists every request it made."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI and the development machines run as root, where Chromium's sandbox refuses to start
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.requested_urls = []
            page.on("request", lambda request: page.requested_urls.append(request.url))
            page.goto(url)
            page.wait_for_selector(UPLOAD, state="attached", timeout=60_000)
            yield page
        finally:
            browser.close()


def upload(page: Any, image: str | Path) -> None:
    """Put a file into the demo's upload field, as a person choosing it would."""
    page.locator(UPLOAD).set_input_files(str(image))


def wait_for_status(page: Any, text: str, timeout_ms: int = 60_000) -> str:
    """Wait until the status line under the slider contains `text`; returns the whole line."""
    page.wait_for_function(
        "text => (document.querySelector('#status')?.innerText || '').includes(text)", arg=text, timeout=timeout_ms
    )
    return page.locator("#status").inner_text()


def slider_images(page: Any, timeout_ms: int = 60_000) -> list[str]:
    """The URLs of the slider's pictures, once two distinct ones have loaded (fewer after the timeout)."""
    script = """() => Array.from(document.querySelectorAll('#depth-slider img'))
        .filter(img => img.complete && img.naturalWidth > 0).map(img => img.src)"""
    try:
        page.wait_for_function(f"() => new Set(({script})()).size >= 2", timeout=timeout_ms)
    except Exception:  # the caller's assertion says what is missing
        pass
    return list(dict.fromkeys(page.evaluate(script)))


def download_links(page: Any, timeout_ms: int = 60_000) -> dict[str, str]:
    """File name → URL of the download links of the 16-bit and the coloured depth PNG (those present)."""
    links: dict[str, str] = {}
    for box in ("#depth16-file", "#colored-file"):
        link = page.locator(f"{box} a[download]")
        try:
            link.first.wait_for(state="attached", timeout=timeout_ms)
        except Exception:
            continue
        links[str(link.first.get_attribute("download"))] = str(link.first.get_attribute("href"))
    return links


def fetch(page: Any, url: str) -> bytes:
    """The bytes behind `url`, fetched in the page's browser context."""
    response = page.request.get(url)
    assert response.ok, f"{url}: HTTP {response.status}"
    return response.body()


def wait_for_mesh_view(page: Any, timeout_ms: int = 60_000) -> list[str]:
    """Wait until the 3-D view (metric models) has its canvas and has fetched the mesh, then let it draw;
    returns the URLs of the GLB files the page requested (empty when none came in time)."""
    page.locator("#mesh-view canvas").first.wait_for(state="visible", timeout=timeout_ms)
    glb_urls: list[str] = []
    for _ in range(max(1, timeout_ms // 500)):
        glb_urls = [url for url in page.requested_urls if url.split("?")[0].endswith(".glb")]
        if glb_urls:
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(1500)  # the viewer draws a few frames once the mesh is in
    return glb_urls


def predict_in_page(page: Any, image: str | Path, timeout_ms: int = 120_000) -> str:
    """Upload `image` and wait for its result (status, slider pictures, download links); returns the status."""
    upload(page, image)
    status = wait_for_status(page, Path(image).name, timeout_ms)
    slider_images(page, timeout_ms)
    download_links(page, timeout_ms)
    return status


def screenshot_after_prediction(model: str, image: str | Path, out: str | Path, chromium: str,
                                input_size: int | None = None) -> Path:
    """Serve the demo, predict `image` in Chromium, save a screenshot of the whole page to `out`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with serve_demo(model, input_size=input_size) as url, open_page(url, chromium) as page:
        status = predict_in_page(page, image)
        if "⚠️" in status:
            raise RuntimeError(f"the demo did not compute depth: {status}")
        if "3-D mesh (" in page.locator("#mesh-camera").inner_text():  # a metric model: let the 3-D view draw
            wait_for_mesh_view(page)
        page.wait_for_timeout(500)  # let the slider finish its layout
        page.screenshot(path=str(out), full_page=True)
    return out
