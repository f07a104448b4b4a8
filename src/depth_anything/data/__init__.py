"""Data: the synthetic renderer, readers for published dataset layouts, and augmentations."""
