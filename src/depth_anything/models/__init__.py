"""Model definitions: DINOv2 encoder, DPT head, and the Depth Anything model with its size registry."""

from .depth_anything import MODEL_CONFIGS, DepthAnything, ModelConfig, build_model, model_config

__all__ = ["MODEL_CONFIGS", "DepthAnything", "ModelConfig", "build_model", "model_config"]
