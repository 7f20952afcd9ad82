"""Spindle for Python trainers: the client of `spindle agent`'s Loader service (LoaderClient), a
PyTorch IterableDataset on it (SpindleDataset), and checkpoints through its Checkpoints service
(spindle.ckpt: CheckpointClient, save, load). torch is needed for SpindleDataset and
ckpt.save/load only."""

from . import ckpt
from .ckpt import CheckpointClient, CheckpointInfo, SaveResult
from .loader import (
    AGENT_ENV,
    LoadedBatch,
    LoadedSample,
    LoaderClient,
    SpindleDataset,
    SpindleError,
)

__all__ = [
    "AGENT_ENV",
    "CheckpointClient",
    "CheckpointInfo",
    "LoadedBatch",
    "LoadedSample",
    "LoaderClient",
    "SaveResult",
    "SpindleDataset",
    "SpindleError",
    "ckpt",
]
__version__ = "0.1.0"
