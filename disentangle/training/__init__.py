"""Training: the run configuration and presets, the run directory, checkpoints, pictures, the
loop, and `load_run` to get a trained model back for evaluation."""

from disentangle.training.build import load_run
from disentangle.training.config import PRESETS, RunConfig, load_toml, resolve
from disentangle.training.rundir import RunDir, latest_run
from disentangle.training.trainer import (
    SharedData,
    TrainingDiverged,
    fit,
    fit_together,
    resume,
    start,
    train,
)

__all__ = ["PRESETS", "RunConfig", "RunDir", "SharedData", "TrainingDiverged", "fit",
           "fit_together", "latest_run", "load_run", "load_toml", "resolve", "resume", "start",
           "train"]
