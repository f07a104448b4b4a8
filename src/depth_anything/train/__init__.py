"""The Depth Anything V2 training recipe: teacher on synthetic data → pseudo-labels → students.

- `config`: typed YAML configuration (`load_config`).
- `trainer`: the loop for every stage, single-process or DDP under torchrun (`Trainer`, `train`).
- `setup`: the network with its starting weights, the reference encoder, optimiser and precision.
- `loading`: the configured datasets and their loaders.
- `objective` (assembled from `losses`: SSI, gradient matching, trimming, feature alignment, SiLog).
- `validation`: scores on the validation sets, by the evaluation protocol.
- `checkpoints`, `logs`: checkpoints with resume and pruning; the CSV logs.
- `hooks`: what callers run at points of the loop (progress bar, crash test).
- `distributed`, `schedule`: torchrun setup and collectives; learning-rate schedule and sampler.
- `label`: pseudo-labeling of unlabeled images (the format and its reader: `data.pseudo`).

Submodules are imported on use, so `import depth_anything.train` stays light.
"""
