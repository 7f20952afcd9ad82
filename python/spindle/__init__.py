"""Spindle for Python trainers: the client of `spindle agent`'s Loader service (LoaderClient) and a
PyTorch IterableDataset on it (SpindleDataset). torch is needed for SpindleDataset only."""

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
    "LoadedBatch",
    "LoadedSample",
    "LoaderClient",
    "SpindleDataset",
    "SpindleError",
]
__version__ = "0.1.0"
