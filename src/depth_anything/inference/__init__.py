"""Inference: the one `Predictor` over interchangeable runtimes (PyTorch now; exported models next)."""

from .predictor import PredictionResult, Predictor, image_name
from .runtimes import BACKENDS, Runtime, TorchRuntime, open_runtime
from .loading import open_predictor

__all__ = ["BACKENDS", "PredictionResult", "Predictor", "Runtime", "TorchRuntime", "image_name", "open_predictor", "open_runtime"]
