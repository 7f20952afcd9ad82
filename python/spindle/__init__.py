"""Spindle for Python trainers: the client of `spindle agent`'s Loader service (LoaderClient), a
PyTorch IterableDataset on it (SpindleDataset), checkpoints through its Checkpoints service
(spindle.ckpt: CheckpointClient, save, load), and a shared KV-cache store for inference engines
through its KvCache service (spindle.kv: KvClient). torch is needed for SpindleDataset,
ckpt.save/load and kv's tensor helpers only."""

from . import ckpt, kv
from .ckpt import CheckpointClient, CheckpointInfo, SaveResult
from .kv import KvClient, KvNamespace
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
    "KvClient",
    "KvNamespace",
    "LoadedBatch",
    "LoadedSample",
    "LoaderClient",
    "SaveResult",
    "SpindleDataset",
    "SpindleError",
    "ckpt",
    "kv",
]
__version__ = "0.1.0"
