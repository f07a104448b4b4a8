"""Inference: the one `Predictor` over interchangeable runtimes (PyTorch, ONNX Runtime, OpenVINO),
optionally tiled at full resolution (`Tiling`)."""

from .predictor import PredictionResult, Predictor, image_name
from .runtimes import BACKENDS, OnnxRuntime, OpenVINORuntime, Runtime, TorchRuntime, open_runtime
from .tiling import Tiling

__all__ = ["BACKENDS", "OnnxRuntime", "OpenVINORuntime", "PredictionResult", "Predictor", "Runtime", "Tiling", "TorchRuntime", "image_name", "open_runtime"]

