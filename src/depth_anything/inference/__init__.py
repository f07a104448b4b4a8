"""Inference: the one `Predictor` over interchangeable runtimes (PyTorch now; exported models next)."""

from .predictor import PredictionResult, Predictor, image_name
from .runtimes import Runtime, TorchRuntime

__all__ = ["PredictionResult", "Predictor", "Runtime", "TorchRuntime", "image_name"]
