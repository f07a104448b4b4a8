"""Test session setup: nothing may reach the network (model helpers live in model_helpers.py)."""

from __future__ import annotations

import os

# Tests must never reach the network, even by accident through huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# `backend="auto"` compiles checkpoints for OpenVINO on first use (tens of seconds per model): the tests
# of that path turn it on themselves (tests/export/test_compiled.py); every other test runs them on torch.
os.environ.setdefault("DEPTH_ANYTHING_COMPILE", "off")
