"""TensorBoard event files for a run (`--tensorboard`), under RUN/tensorboard/.

Scalars carry the names of metrics.jsonl's keys, written at the same steps with the same values:
the losses, `info/<code>` (L_I) beside `entropy/<code>` (H(c)), `images_per_s`, and any number a
method or the trainer adds to a log record. A custom-scalars layout puts each code's L_I and H(c)
on one chart. Images are the sample grid and the traversals, read back from the PNGs the run has
just written, so TensorBoard shows exactly the files in the run directory.

Off (the default), the trainer never creates a Board and torch.utils.tensorboard is never
imported: the only cost is an `is None` test per log line and per picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from disentangle.errors import DisentangleError
from disentangle.model import LatentModel

FOLDER = "tensorboard"
HOW = "pip install 'disentangle[tensorboard]' (or pip install tensorboard)"
NOT_SCALARS = ("step", "elapsed")  # the x axis, and wall time TensorBoard records itself


def check(enabled: bool) -> None:
    """Fail before a run directory is made when --tensorboard is asked for and not installed."""
    if enabled:
        _writer_class()


def _writer_class() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise DisentangleError(f"--tensorboard needs the tensorboard package: {HOW}; or "
                               "train without it (--no-tensorboard)") from None
    return SummaryWriter


class Board:
    """One SummaryWriter for a training session."""

    def __init__(self, run_dir: Path, model: LatentModel, resumed_at: int | None = None):
        # on resume, purge_step drops events a crashed session logged after its last checkpoint
        purge = resumed_at + 1 if resumed_at is not None else None
        self.writer = _writer_class()(log_dir=str(run_dir / FOLDER), purge_step=purge)
        if resumed_at is None and model.latent.codes:
            charts = {f"{c.name} {c.spec}": ["Multiline", [f"info/{c.name}", f"entropy/{c.name}"]]
                      for c in model.latent.codes}
            self.writer.add_custom_scalars({"L_I against H(c)": charts})

    def scalars(self, record: dict[str, Any]) -> None:
        step = record["step"]
        for key, value in record.items():
            if key not in NOT_SCALARS and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)

    def pictures(self, paths: list[Path], step: int) -> None:
        """PNG files as images, tagged with their names ('samples', 'traversal-c1')."""
        from PIL import Image

        for path in paths:
            with Image.open(path) as image:
                array = np.asarray(image.convert("RGB"))  # (H, W, 3) uint8
            self.writer.add_image(path.stem, array, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_board(enabled: bool, run_dir: Path, model: LatentModel,
               resumed_at: int | None = None) -> Board | None:
    return Board(run_dir, model, resumed_at) if enabled else None
