"""The Depth Anything V2 training recipe: teacher on synthetic data → pseudo-labels → students.

- `losses`: SSI, gradient matching, top-loss trimming, feature alignment, SiLog.
- `config`: typed YAML configuration (`load_config`).
- `trainer`: the loop for every stage, single-process or DDP under torchrun (`Trainer`, `train`).
- `label`: pseudo-labeling of unlabeled images and the "pseudo" dataset reader.

Submodules are imported on use, so `import depth_anything.train` stays light.
"""
