"""Test session setup: nothing may reach the network (model helpers live in model_helpers.py)."""

from __future__ import annotations

import os

# Tests must never reach the network, even by accident through huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
