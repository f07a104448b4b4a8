"""The loop of the per-image commands (predict, pointcloud): collect the inputs, run them through one
`Predictor` with a progress bar, hand each result to the command's writer, print the summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..inference.files import ImageInput
from ..inference.predictor import PredictionResult, Predictor


@dataclass
class BatchRun:
    """Images to process and what went wrong so far (each message names its file)."""

    outdir: Path
    images: list[ImageInput]
    failed: list[str] = field(default_factory=list)
    existed: int = 0
    written: int = 0

    @classmethod
    def collect(cls, inputs: Sequence[str], outdir: str | Path) -> BatchRun:
        """The images behind `inputs` (see `collect_images`); unusable inputs are reported now."""
        from ..errors import ConfigError
        from ..inference.files import collect_images

        collected = collect_images(inputs, exclude=outdir)
        run = cls(Path(outdir), collected.images, [f"{source}: {reason}" for source, reason in collected.problems])
        for message in run.failed:
            print(f"skipped {message}", file=sys.stderr)
        if not run.images:
            raise ConfigError("no input images found")
        return run

    def skip(self, done: Callable[[ImageInput], bool]) -> None:
        """Leave out the images for which `done` is true (counted as already existing)."""
        remaining = [image for image in self.images if not done(image)]
        self.existed += len(self.images) - len(remaining)
        self.images = remaining

    def process(self, predictor: Predictor, write: Callable[[ImageInput, PredictionResult], object]) -> int:
        """Predict every image and `write` each result; print the summary; the exit code (1 if any failed)."""
        from tqdm import tqdm

        start = time.perf_counter()
        with tqdm(total=len(self.images), unit=" images", file=sys.stderr, dynamic_ncols=True) as bar:
            for result in predictor.iter_results(image.path for image in self.images):
                if result.error is not None:
                    self.failed.append(result.error)  # names the file
                    bar.write(f"skipped {result.error}", file=sys.stderr)
                else:
                    write(self.images[result.index], result)
                    self.written += 1
                del result  # one image's full-size outputs at a time
                bar.update(1)
        elapsed = time.perf_counter() - start
        print(f"{self.written} image(s) written to {self.outdir} in {elapsed:.1f} s; {len(self.failed)} skipped; "
              f"{self.existed} already existed")
        if self.failed:
            print(f"skipped ({len(self.failed)}):", file=sys.stderr)
            for message in self.failed:
                print(f"  {message}", file=sys.stderr)
        return 1 if self.failed else 0
