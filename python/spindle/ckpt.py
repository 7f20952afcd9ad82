"""Checkpoints of training state through `spindle agent` (docs/checkpoints.md, "From Python and
other languages").

CheckpointClient talks to the agent's Checkpoints service (proto/checkpoints.proto); save() and
load() are the one-call helpers on it. What they guarantee:

- save() serializes the state dict with torch.save and writes it as this rank's shard `model.pt`
  of `step` in the checkpoint directory: streamed to the agent, or, with `via_mount`, written as a
  file through a `spindle mount` into the save's staging path and adopted by the agent. Every rank
  of a save calls it with the same step and save_id; the last rank to finish commits the step, all
  at once: a step is either committed with every rank's shard, or not visible at all.
- The loader's cursor (SpindleDataset.state_dict(), passed as `loader_state`) and your `metadata`
  are saved inside the same checkpoint (in its manifest), so load() hands back exactly the cursor
  saved with those weights: SpindleDataset.load_state_dict() then continues the epoch at the sample
  after the checkpoint.
- load() reads this rank's shard back (checked against its size and CRC32C by the agent) and
  torch.load()s it.
- A failed call raises SpindleError with the gRPC status and the agent's message; bad arguments
  raise ValueError before anything is sent.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, BinaryIO, Dict, Iterable, Iterator, List, Optional, Tuple, Union

import grpc

from ._ckpt_messages import (
    SPINDLE_KEY,
    BegunSave,
    CheckpointInfo,
    SaveResult,
    ShardInfo,
    check_dir,
    check_step,
    checkpoint_info,
    shard_chunks,
)
from ._proto import checkpoints_pb2, checkpoints_pb2_grpc
from .loader import SpindleError, _AgentClient, _integer, _placement, _state_message

__all__ = ["BegunSave", "CheckpointClient", "CheckpointInfo", "MODEL_SHARD", "SaveResult", "ShardInfo", "load", "save"]

#: The shard save() writes for each rank (its torch.save of the state dict).
MODEL_SHARD = "model.pt"


def _torch() -> Any:
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("spindle.ckpt save()/load() need torch (pip install 'spindle[torch]')") from error
    return torch


class CheckpointClient(_AgentClient):
    """The Checkpoints service of one agent. `address` is what `spindle agent` printed
    (`127.0.0.1:PORT` or `unix:/path.sock`); default: the SPINDLE_AGENT environment variable.
    Close it when done (or use it in a `with` block)."""

    def __init__(self, address: Optional[str] = None, *, token: Optional[str] = None) -> None:
        super().__init__(address, token=token)
        self._stub = checkpoints_pb2_grpc.CheckpointsStub(self._channel)

    # The one-call helpers.

    def save(
        self,
        dir: str,
        step: int,
        state_dict: Any,
        *,
        rank: Optional[int] = None,
        world_size: Optional[int] = None,
        save_id: Optional[str] = None,
        loader_state: Optional[Dict[str, Any]] = None,
        metadata: Any = None,
        via_mount: Optional[str] = None,
        keep_last: Optional[int] = None,
        keep_every: Optional[int] = None,
    ) -> SaveResult:
        """Saves `state_dict` (anything torch.save takes) as this rank's part of `step` in `dir`,
        with the loader cursor `loader_state` (SpindleDataset.state_dict()) and JSON `metadata`.

        rank and world_size default to torch.distributed's, else RANK / WORLD_SIZE, else 0 / 1.
        save_id must be the same on every rank of the save and new for a restarted job (take it
        from the launcher); default `w<world_size>`. With `via_mount` (the directory where
        `spindle mount` mounted the cluster's root) the shard is written as a file through the
        mount and adopted, instead of streamed to the agent. keep_last / keep_every: retention
        applied by the committing rank. A failure aborts the save and raises."""
        if rank is None or world_size is None:
            placed_rank, placed_world = _placement()
            rank = placed_rank if rank is None else rank
            world_size = placed_world if world_size is None else world_size
        if loader_state is not None:
            _state_message(loader_state)  # refuses a malformed cursor before anything is written
        ours: Dict[str, Any] = {"loader_state": loader_state, "metadata": metadata}
        try:
            metadata_json = json.dumps({SPINDLE_KEY: ours})
        except (TypeError, ValueError) as error:
            raise ValueError(f"metadata must be JSON-serializable: {error}") from None
        if via_mount is not None and not os.path.isdir(via_mount):
            raise ValueError(
                f"via_mount must be the directory where `spindle mount` mounted the cluster, got {via_mount!r}"
            )
        buffer = io.BytesIO()
        _torch().save(state_dict, buffer)
        begun = self.begin(
            dir, step, rank=rank, world_size=world_size, save_id=save_id, keep_last=keep_last, keep_every=keep_every
        )
        try:
            if via_mount is not None:
                path = os.path.join(via_mount, begun.staging_path.lstrip("/"), MODEL_SHARD)
                with open(path, "xb") as file:
                    file.write(buffer.getbuffer())
                    file.flush()
                    os.fsync(file.fileno())
                self.adopt_shard(begun.save, MODEL_SHARD)
            else:
                self.write_shard(begun.save, MODEL_SHARD, buffer.getvalue())
            return self.finish(begun.save, step, begun.save_id, metadata_json)
        except BaseException:
            try:
                self.abort(begun.save)
            except SpindleError:
                pass  # the handle is already spent (finish failed) or the agent is gone
            raise

    def load(
        self,
        dir: str,
        step: Union[int, str] = "latest",
        *,
        rank: Optional[int] = None,
        map_location: Any = "cpu",
    ) -> Tuple[Any, CheckpointInfo]:
        """(state_dict, info) of `step` ('latest': the newest committed step): this rank's shard
        torch.load()ed onto `map_location`, and the step's info (loader_state, metadata, ...).
        rank defaults to this process's rank (as in save())."""
        info = self.manifest(dir, step)
        if rank is None:
            rank, _ = _placement()
        if not 0 <= rank < info.world_size:
            raise ValueError(
                f"step {info.step} in {dir} was saved by {info.world_size} ranks, this is rank {rank}: "
                "pass rank= to choose whose state to load"
            )
        if not any(shard.rank == rank and shard.name == MODEL_SHARD for shard in info.shards):
            raise ValueError(
                f"step {info.step} in {dir} has no {MODEL_SHARD} of rank {rank}: it was not saved by save()"
            )
        data = self.read_shard(dir, info.step, rank, MODEL_SHARD)
        return _torch().load(io.BytesIO(data), map_location=map_location), info

    def list(self, dir: str) -> List[int]:
        """The committed steps of `dir`, ascending."""
        return list(self._call("List", checkpoints_pb2.ListRequest(dir=check_dir(dir))).steps)

    def latest(self, dir: str) -> Optional[int]:
        """The newest committed step of `dir`, or None when there is none (or no such directory)."""
        try:
            steps = self.list(dir)
        except SpindleError as error:
            if error.code == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return steps[-1] if steps else None

    def manifest(self, dir: str, step: Union[int, str] = "latest") -> CheckpointInfo:
        """The info of a committed step ('latest': the newest); SpindleError NOT_FOUND if none."""
        request = checkpoints_pb2.LoadRequest(dir=check_dir(dir))
        if step != "latest":
            request.step = check_step(step)
        return checkpoint_info(self._call("Load", request))

    def delete(self, dir: str, step: int) -> None:
        """Removes a committed step."""
        self._call("Delete", checkpoints_pb2.DeleteRequest(dir=check_dir(dir), step=check_step(step)))

    # The service's calls, for shards of your own.

    def begin(
        self,
        dir: str,
        step: int,
        *,
        rank: int,
        world_size: int,
        save_id: Optional[str] = None,
        keep_last: Optional[int] = None,
        keep_every: Optional[int] = None,
    ) -> BegunSave:
        """Begins this rank's part of saving `step`: write shards, then finish() (or abort())."""
        world_size = _integer("world_size", world_size, 1, 65536)
        request = checkpoints_pb2.BeginRequest(
            dir=check_dir(dir),
            step=check_step(step),
            world_size=world_size,
            rank=_integer("rank", rank, 0, world_size - 1),
        )
        if save_id is not None:
            request.save_id = save_id
        if keep_last is not None:
            request.keep_last = _integer("keep_last", keep_last, 1, 2**32 - 1)
        if keep_every is not None:
            request.keep_every = _integer("keep_every", keep_every, 1, 2**32 - 1)
        response = self._call("Begin", request)
        return BegunSave(response.save, response.staging_path, response.save_id)

    def write_shard(
        self, save: str, name: str, data: Union[bytes, bytearray, memoryview, Iterable[bytes], BinaryIO]
    ) -> ShardInfo:
        """Streams shard `name` of a begun save: bytes, an iterable of bytes, or a binary file."""
        return self._shard_info(self._call("WriteShard", shard_chunks(save, name, data)))

    def adopt_shard(self, save: str, name: str) -> ShardInfo:
        """Records the file `<staging_path>/<name>` this rank wrote itself (closed and fsynced)."""
        return self._shard_info(self._call("AdoptShard", checkpoints_pb2.AdoptShardRequest(save=save, name=name)))

    def finish(self, save: str, step: int, save_id: str, user_metadata_json: str = "") -> SaveResult:
        """Ends this rank's part; the last rank to finish commits."""
        response = self._call("Finish", checkpoints_pb2.FinishRequest(save=save, user_metadata_json=user_metadata_json))
        return SaveResult(
            step=step,
            save_id=save_id,
            committed=response.committed,
            missing_ranks=list(response.missing_ranks),
            committer=response.committer,
            deleted_steps=list(response.deleted_steps),
        )

    def abort(self, save: str) -> None:
        """Abandons the whole save (every rank's staging files)."""
        self._call("Abort", checkpoints_pb2.AbortRequest(save=save))

    def read_shard(
        self, dir: str, step: int, rank: int, name: str, offset: Optional[int] = None, length: Optional[int] = None
    ) -> bytes:
        """A shard of a committed step (checked against its CRC32C when read whole), or a range of it."""
        request = checkpoints_pb2.ReadShardRequest(
            dir=check_dir(dir), step=check_step(step), rank=_integer("rank", rank, 0, 65535), name=name
        )
        if offset is not None:
            request.offset = _integer("offset", offset, 0)
        if length is not None:
            request.length = _integer("length", length, 0)
        try:
            return b"".join(chunk.data for chunk in self._stub.ReadShard(request))
        except grpc.RpcError as error:
            raise self._error(error) from None

    @staticmethod
    def _shard_info(message: Any) -> ShardInfo:
        return ShardInfo(message.rank, message.name, message.bytes, message.crc32c)

def save(dir: str, step: int, state_dict: Any, *, agent: Optional[str] = None, **options: Any) -> SaveResult:
    """CheckpointClient(agent).save(dir, step, state_dict, **options) on a connection of its own."""
    with CheckpointClient(agent) as client:
        return client.save(dir, step, state_dict, **options)


def load(
    dir: str, step: Union[int, str] = "latest", *, agent: Optional[str] = None, **options: Any
) -> Tuple[Any, CheckpointInfo]:
    """CheckpointClient(agent).load(dir, step, **options) on a connection of its own."""
    with CheckpointClient(agent) as client:
        return client.load(dir, step, **options)
