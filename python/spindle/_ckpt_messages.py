"""The data of spindle.ckpt (ckpt.py) and its conversions to and from proto/checkpoints.proto
messages: what a save returned, what a committed step holds, the WriteShard message stream.
No network and no torch: the client (ckpt.py) does the calls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional

from ._proto import checkpoints_pb2
from .loader import _integer

#: Bytes per WriteShard message: far below the agent's message limit, large enough to stream fast.
CHUNK_BYTES = 4 * 1024 * 1024
#: Largest step: 12 digits in a step directory's name.
STEP_MAX = 10**12 - 1
#: The key of the manifest's user metadata under which save() keeps what spindle itself needs.
SPINDLE_KEY = "spindle"


@dataclass(frozen=True)
class ShardInfo:
    """One shard: the rank that wrote it, its name, size and CRC32C."""

    rank: int
    name: str
    bytes: int
    crc32c: int


@dataclass(frozen=True)
class BegunSave:
    """A save begun on the agent: its handle, and the Spindle path where this rank may write shard
    files itself (through a mount) before adopt_shard()."""

    save: str
    staging_path: str
    save_id: str


@dataclass(frozen=True)
class SaveResult:
    """What a rank's save did: committed (by this rank or another), or waiting for other ranks."""

    step: int
    save_id: str
    committed: bool
    #: Ranks that had not finished yet (when not committed).
    missing_ranks: List[int]
    #: This rank's finish committed the step.
    committer: bool
    #: Steps retention removed after the commit (on the committing rank only).
    deleted_steps: List[int]


@dataclass(frozen=True)
class CheckpointInfo:
    """A committed step: who saved it, the loader cursor and metadata saved with it, its shards."""

    step: int
    world_size: int
    save_id: str
    created_at: str
    #: SpindleDataset.state_dict() as it was saved, or None when save() was given none.
    loader_state: Optional[Dict[str, Any]]
    #: The `metadata` rank 0 passed to save() (None when it gave none).
    metadata: Any
    shards: List[ShardInfo]


def check_step(value: Any) -> int:
    return _integer("step", value, 0, STEP_MAX)


def check_dir(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith("/") or value == "/":
        raise ValueError(
            f"dir must be an absolute Spindle path below the root such as /checkpoints/run1, got {value!r}"
        )
    return value


def checkpoint_info(manifest: Any) -> CheckpointInfo:
    user = json.loads(manifest.user_metadata_json) if manifest.user_metadata_json else None
    ours = user.get(SPINDLE_KEY) if isinstance(user, dict) else None
    if isinstance(ours, dict):
        loader_state, metadata = ours.get("loader_state"), ours.get("metadata")
    else:  # saved by another client: its metadata is the user's own
        loader_state, metadata = None, user
    return CheckpointInfo(
        step=manifest.step,
        world_size=manifest.world_size,
        save_id=manifest.save_id,
        created_at=manifest.created_at,
        loader_state=loader_state,
        metadata=metadata,
        shards=[ShardInfo(s.rank, s.name, s.bytes, s.crc32c) for s in manifest.shards],
    )


def _pieces(data: Any) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        view = memoryview(data)
        for start in range(0, len(view), CHUNK_BYTES):
            yield bytes(view[start : start + CHUNK_BYTES])
    elif hasattr(data, "read"):
        while True:
            piece = data.read(CHUNK_BYTES)
            if not piece:
                break
            yield piece
    else:
        for piece in data:
            yield bytes(piece)


def shard_chunks(save: str, name: str, data: Any) -> Iterator[Any]:
    """The WriteShard messages: save and name first, then the pieces; the final one has last set
    (the agent records no shard whose stream ends without it)."""
    yield checkpoints_pb2.ShardChunk(save=save, name=name)
    for piece in _pieces(data):
        yield checkpoints_pb2.ShardChunk(data=piece)
    yield checkpoints_pb2.ShardChunk(last=True)
