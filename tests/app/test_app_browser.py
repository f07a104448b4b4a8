"""The web demo in a real browser: served on loopback, driven by Playwright in headless Chromium.

A tiny random checkpoint is built here (no network, no trained weights): these tests check the page's
behaviour, not the depth.
"""

from __future__ import annotations

import io
import os
from urllib.parse import urlparse

import numpy as np
import pytest

pytest.importorskip("gradio", reason="the web demo needs gradio: pip install -e '.[app]'")
pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright: pip install -e '.[test]'")

import app_browser  # noqa: E402  (tests/app, shared with tools/screenshot_app.py)
from model_helpers import randomize_, tiny_config  # noqa: E402
from PIL import Image  # noqa: E402

from depth_anything import build_model  # noqa: E402
from depth_anything.weights import save_checkpoint  # noqa: E402

CHROMIUM = app_browser.find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason=f"no Chromium binary found (looked for {', '.join(app_browser.CHROMIUM_NAMES)}); "
    "on Debian: apt-get install chromium",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The demo on a free loopback port, with a tiny random model first in its list."""
    folder = tmp_path_factory.mktemp("app")
    checkpoint = save_checkpoint(randomize_(build_model(tiny_config()), seed=5), folder / "tiny.pt")
    with app_browser.serve_demo(str(checkpoint), input_size=56, examples=[]) as url:
        yield url


@pytest.fixture
def page(served):
    with app_browser.open_page(served, CHROMIUM) as page:
        yield page


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_upload_shows_image_and_depth_on_the_slider_and_offers_both_pngs(tmp_path, page):
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    Image.fromarray(photo).save(tmp_path / "room.png")

    app_browser.upload(page, tmp_path / "room.png")
    status = app_browser.wait_for_status(page, "room.png")
    assert "⚠️" not in status and "80×48" in status

    before_url, after_url, *extra = app_browser.slider_images(page) + [None, None]
    assert before_url and after_url, "the slider does not show two pictures"
    before = np.asarray(_decode(app_browser.fetch(page, before_url)).convert("RGB"))
    after = np.asarray(_decode(app_browser.fetch(page, after_url)).convert("RGB"))
    np.testing.assert_array_equal(before, photo)  # the uploaded image itself, pixel for pixel
    assert after.shape == photo.shape and not np.array_equal(after, photo)

    links = app_browser.download_links(page)
    assert set(links) == {"room_depth16.png", "room_depth.png"}, links
    depth16 = _decode(app_browser.fetch(page, links["room_depth16.png"]))
    assert depth16.mode in ("I;16", "I;16B", "I") and depth16.size == (80, 48)
    values = np.asarray(depth16)
    assert values.max() == 65535 and values.min() == 0  # relative depth, min–max scaled to the full range
    colored = _decode(app_browser.fetch(page, links["room_depth.png"]))
    assert colored.mode == "RGB" and colored.size == (80, 48)
    np.testing.assert_array_equal(np.asarray(colored), after)  # the slider's depth is the coloured download

    outside = [url for url in page.requested_urls if urlparse(url).hostname not in ("127.0.0.1", "localhost")]
    assert outside == [], f"the page reached beyond this machine: {outside[:5]}"


def test_a_broken_file_gets_a_message_on_the_page(tmp_path, page):
    (tmp_path / "photo.png").write_bytes(os.urandom(4096))

    app_browser.upload(page, tmp_path / "photo.png")
    status = app_browser.wait_for_status(page, "photo.png")
    assert "not a readable image" in status and "⚠️" in status
    # the warning pop-up says it too: an element neither in nor around the status line holds the message
    page.wait_for_function(
        """text => Array.from(document.querySelectorAll('body *')).some(el => !el.closest('#status')
            && !el.querySelector('#status') && el.checkVisibility() && (el.innerText || '').includes(text))""",
        arg="photo.png: not a readable image", timeout=10_000,
    )
    assert app_browser.slider_images(page, timeout_ms=1_000) == []
    assert app_browser.download_links(page, timeout_ms=1_000) == {}


@pytest.fixture(scope="module")
def served_metric():
    """The demo on the built-in metric model, whose results get a 3-D view."""
    pytest.importorskip("trimesh")
    with app_browser.serve_demo("default-metric", examples=[]) as url:
        yield url


def test_a_metric_model_shows_the_mesh_in_3d_with_its_field_of_view_and_offers_the_glb(tmp_path, served_metric):
    from depth_anything.data.synthetic import SynthConfig, render, sample_rng, sample_scene

    config = SynthConfig(width=96, height=72, indoor_fraction=1.0, mirror_probability=0.0, glass_probability=0.0,
                         fog_probability=0.0, noise_probability=0.0)
    Image.fromarray(render(sample_scene(sample_rng(3, 0), config)).image).save(tmp_path / "room.png")
    with app_browser.open_page(served_metric, CHROMIUM) as page:
        app_browser.upload(page, tmp_path / "room.png")
        status = app_browser.wait_for_status(page, "room.png")
        assert "⚠️" not in status and "metric depth" in status
        page.wait_for_function("() => (document.querySelector('#mesh-camera')?.innerText || '').includes('FOV')",
                               timeout=60_000)
        assert "60.0° horizontal FOV" in page.locator("#mesh-camera").inner_text()  # a PNG has no EXIF: the default
        glb_urls = app_browser.wait_for_mesh_view(page)
        assert glb_urls, f"the 3-D view did not load the mesh: {page.requested_urls[-8:]}"
        assert app_browser.fetch(page, glb_urls[0])[:4] == b"glTF"
        drawn = np.asarray(_decode(page.locator("#mesh-view canvas").first.screenshot()).convert("RGB")).astype(float)
        assert drawn.std() > 5, "the 3-D view is blank"
        link = page.locator("#mesh-file a[download]")
        link.first.wait_for(state="attached", timeout=60_000)
        assert link.first.get_attribute("download") == "room.glb"
        # blob: URLs are the viewer's own in-page copies of the textures, not requests to any host
        outside = [url for url in page.requested_urls
                   if urlparse(url).scheme != "blob" and urlparse(url).hostname not in ("127.0.0.1", "localhost")]
        assert outside == [], f"the 3-D view reached beyond this machine: {outside[:5]}"
