"""The web demo sends no analytics and checks for no new version: served on loopback, it connects to no
other host even when GRADIO_ANALYTICS_ENABLED is unset, and importing it sets no GRADIO_ variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("gradio")

# Run in a fresh process: every connection and name lookup to a host other than this machine is
# recorded and refused; the demo is built, served on loopback, closed, and its threads are awaited.
PROBE = """
import json, os, socket, sys, threading

LOCAL = ("127.", "localhost", "::1", "0.0.0.0")
attempts = []
connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

def guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else str(address)
    if not str(host).startswith(LOCAL):
        attempts.append(f"connect {address}")
        raise OSError("no network in this test")
    return connect(self, address)

def guarded_getaddrinfo(host, *args, **kwargs):
    if host is not None and not str(host).startswith(LOCAL):
        attempts.append(f"lookup {host}")
        raise socket.gaierror("no network in this test")
    return getaddrinfo(host, *args, **kwargs)

socket.socket.connect, socket.getaddrinfo = guarded_connect, guarded_getaddrinfo
before = dict(os.environ)
from depth_anything.app import demo as app_demo
from depth_anything.app.processing import ModelChooser, model_sources

changed = sorted(k for k in set(before) | set(os.environ)
                 if k.startswith("GRADIO_") and before.get(k) != os.environ.get(k))
demo = app_demo.build_demo(ModelChooser(model_sources(sys.argv[1])), examples=[])
app_demo.launch_demo(demo, block=False, quiet=True)
demo.close()
for thread in threading.enumerate():
    if thread is not threading.main_thread() and not thread.daemon:
        thread.join(timeout=30)
print(json.dumps({"attempts": attempts, "import_changed_env": changed}))
"""


def test_served_demo_connects_to_no_other_host(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADIO_", "HF_HUB_DISABLE_TELEMETRY"))}
    result = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "no_model.pt")], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["attempts"] == []
    assert report["import_changed_env"] == []
