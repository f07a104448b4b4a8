"""The loop of the per-image commands (predict, pointcloud): collect the inputs, run them through one
`Predictor` with a progress bar, hand each result to the command's writer, print the summary."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..inference.predictor import WINDOW_PIXELS, Predictor
from ..outputs import ImageInput

# pixels of results waiting for the writer thread: as many as a read-ahead window, so a whole window
# can be written while the network runs the next one, and memory stays bounded for huge photos
WRITE_AHEAD_PIXELS = WINDOW_PIXELS
# writer threads: PNG encoding can cost more than a small network's forward pass per image
WRITERS = 2
BAR_FORMAT = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"


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
        from ..outputs import collect_images

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

    def process(
        self, predictor: Predictor, write: Callable[..., object], progress: bool = True, confidence: bool = False
    ) -> int:
        """Predict every image and `write` each result; print the summary; the exit code (1 if any failed).

        `write(image, result)` gets each input and its `PredictionResult`; with `confidence`, each image
        also runs mirrored (`inference.confidence`, a second forward pass in the same batch) and `write`
        gets its `FlipConsistency` as a third argument. A write that finds no valid depth in a
        prediction (`NoValidDepthError`) skips that image and reports it; the run goes on.

        Writing (colour maps, PNG encoding) runs in a helper thread while the network works on the
        next window of images, as reading and preprocessing already do inside the `Predictor`; results
        of at most `WRITE_AHEAD_PIXELS` pixels wait for it, so memory stays bounded. A failed write stops the run with
        its error, as it would without the thread. The progress bar (unless not `progress`) reports images
        per second.
        """
        from concurrent.futures import Future, ThreadPoolExecutor

        from tqdm import tqdm

        from ..errors import NoValidDepthError
        from ..inference.confidence import iter_results_with_confidence
        from ..runtime import yield_cores_to_network

        start = time.perf_counter()
        pending: deque[tuple[Future, int]] = deque()  # writes in flight and their pixel counts
        waiting_pixels = 0

        def finish_one(bar) -> None:
            nonlocal waiting_pixels
            future, pixels = pending.popleft()
            waiting_pixels -= pixels
            try:
                future.result()  # re-raises a failed write here
            except NoValidDepthError as exc:  # names the image
                self.failed.append(str(exc))
                bar.write(f"skipped {exc}", file=sys.stderr)
            else:
                self.written += 1
            bar.update(1)
            bar.set_postfix_str(f"{bar.n / (time.perf_counter() - start):.2f} images/s", refresh=False)

        with (
            tqdm(total=len(self.images), unit=" images", file=sys.stderr, dynamic_ncols=True, bar_format=BAR_FORMAT,
                 disable=not progress) as bar,
            ThreadPoolExecutor(WRITERS, "depth-anything-writer", initializer=yield_cores_to_network) as writer,
        ):
            paths = (image.path for image in self.images)
            results = (iter_results_with_confidence(predictor, paths) if confidence
                       else ((result, None) for result in predictor.iter_results(paths)))
            for result, consistency in results:
                if result.error is not None:
                    self.failed.append(result.error)  # names the file
                    bar.write(f"skipped {result.error}", file=sys.stderr)
                    bar.update(1)
                    continue
                pixels = int(result.depth.size) if result.depth is not None else 0
                extra = (consistency,) if confidence else ()
                pending.append((writer.submit(write, self.images[result.index], result, *extra), pixels))
                waiting_pixels += pixels
                del result, consistency  # the writer holds the one reference to the full-size outputs
                while pending and (waiting_pixels > WRITE_AHEAD_PIXELS or pending[0][0].done()):
                    finish_one(bar)
            while pending:
                finish_one(bar)
        elapsed = time.perf_counter() - start
        rate = f" ({self.written / elapsed:.2f} images/s)" if self.written and elapsed > 0 else ""
        print(f"{self.written} image(s) written to {self.outdir} in {elapsed:.1f} s{rate}; {len(self.failed)} skipped; "
              f"{self.existed} already existed")
        if self.failed:
            print(f"skipped ({len(self.failed)}):", file=sys.stderr)
            for message in self.failed:
                print(f"  {message}", file=sys.stderr)
        return 1 if self.failed else 0
