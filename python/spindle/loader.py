"""Training batches from `spindle agent` (docs/loader.md, "From Python").

LoaderClient talks to the agent's Loader service (proto/loader.proto). SpindleDataset is a
torch IterableDataset of one rank's batches on top of it. What they guarantee:

- Step k of every rank is its slice of global batch k of the epoch, whose order depends on the
  dataset, seed, epoch, global batch size and last-batch policy only: every rank takes the same
  number of steps, and over all ranks an epoch reads every sample once ('drop' may leave out the
  last samples, 'pad' repeats a few from the epoch's start to fill the last batch).
- Every batch carries the cursor after it. SpindleDataset.state_dict() is the cursor after the
  last batch it yielded, the same on every rank; load_state_dict() continues it at the current
  world size (any size that divides the global batch size): exactly the rest of the epoch.
- The agent reads ahead at most prefetch_bytes of samples, and only as fast as the trainer takes
  batches; leaving an iteration early cancels its stream and frees the agent's reader.
- A failed call raises SpindleError with the gRPC status and the agent's message.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar

import grpc

from ._proto import loader_pb2, loader_pb2_grpc
from ._auth import find_token, with_token

try:  # torch is optional: LoaderClient works without it.
    import torch.distributed as _dist
    from torch.utils.data import IterableDataset as _IterableDataset
    from torch.utils.data import get_worker_info as _get_worker_info

    _TORCH_ERROR: Optional[ImportError] = None
except ImportError as _error:  # pragma: no cover - depends on the environment
    _IterableDataset = object  # type: ignore[assignment,misc]
    _dist = None  # type: ignore[assignment]
    _get_worker_info = None  # type: ignore[assignment]
    _TORCH_ERROR = _error

#: The environment variable naming the agent's address (what `spindle agent` printed).
AGENT_ENV = "SPINDLE_AGENT"
#: The agent's message limit (agent/constants.ts): one message carries a rank's whole step.
MESSAGE_MAX_BYTES = 256 * 1024 * 1024
#: Seeds, epochs and sizes travel as integers the agent reads exactly: at most 2^53 - 1.
_INTEGER_MAX = 2**53 - 1
_LAST_BATCH = {"drop": loader_pb2.LAST_BATCH_DROP, "pad": loader_pb2.LAST_BATCH_PAD}
_LAST_BATCH_NAMES = {value: name for name, value in _LAST_BATCH.items()}
_STATE_KEYS = (
    "dataset",
    "dataset_id",
    "dataset_size",
    "seed",
    "epoch",
    "batch_size",
    "last_batch",
    "next_batch",
)


class SpindleError(Exception):
    """A failed call to the agent. `code` is the grpc.StatusCode; the message says what to change."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class LoadedSample:
    """One sample: its index in the dataset, the key it was packed with (or None), its bytes."""

    index: int
    key: Optional[str]
    data: bytes


@dataclass(frozen=True)
class LoadedBatch:
    """This rank's slice of global batch `batch_index`, and the cursor after it (`state`)."""

    batch_index: int
    samples: List[LoadedSample]
    state: Dict[str, Any]


@dataclass(frozen=True)
class DatasetInfo:
    """What Describe says: the dataset and, when a batch size was given, the epoch's batching."""

    dataset: str
    dataset_id: str
    samples: int
    bytes: int
    #: Global batches (= steps of every rank) in an epoch; None without a batch size.
    batch_count: Optional[int]
    #: Samples per rank per step; None without a batch size.
    samples_per_step: Optional[int]


def _integer(name: str, value: Any, minimum: int, maximum: int = _INTEGER_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > maximum:
        raise ValueError(f"{name} must be an integer from {minimum} to {maximum}, got {value!r}")
    return value


def _last_batch(value: Any) -> int:
    if value not in _LAST_BATCH:
        raise ValueError(f"last_batch must be 'drop' or 'pad', got {value!r}")
    return _LAST_BATCH[value]


def _state_to_dict(message: Any) -> Dict[str, Any]:
    return {
        "dataset": message.dataset,
        "dataset_id": message.dataset_id,
        "dataset_size": message.dataset_size,
        "seed": message.seed,
        "epoch": message.epoch,
        "batch_size": message.batch_size,
        "last_batch": _LAST_BATCH_NAMES.get(message.last_batch, "unspecified"),
        "next_batch": message.next_batch,
    }


def _state_message(state: Dict[str, Any]) -> Any:
    if not isinstance(state, dict):
        raise ValueError(f"a loader state is a dict (from state_dict()), got {type(state).__name__}")
    missing = [key for key in _STATE_KEYS if key not in state]
    if missing:
        raise ValueError(f"the loader state lacks {', '.join(missing)}: pass a dict that state_dict() returned")
    for key in ("dataset", "dataset_id"):
        if not isinstance(state[key], str):
            raise ValueError(f"state[{key!r}] must be a string, got {state[key]!r}")
    return loader_pb2.LoaderState(
        dataset=state["dataset"],
        dataset_id=state["dataset_id"],
        dataset_size=_integer("state['dataset_size']", state["dataset_size"], 0),
        seed=_integer("state['seed']", state["seed"], 0),
        epoch=_integer("state['epoch']", state["epoch"], 0),
        batch_size=_integer("state['batch_size']", state["batch_size"], 0),
        last_batch=_last_batch(state["last_batch"]),
        next_batch=_integer("state['next_batch']", state["next_batch"], 0),
    )


def _agent_address(address: Optional[str]) -> str:
    address = address or os.environ.get(AGENT_ENV)
    if not address:
        raise ValueError(
            f"no agent address: pass it, or set {AGENT_ENV} to what `spindle agent` printed "
            "(e.g. 127.0.0.1:7600)"
        )
    return address


_Client = TypeVar("_Client", bound="_AgentClient")


class _AgentClient:
    """A channel to one agent, shared by the clients of its services (LoaderClient, and those of
    spindle.ckpt and spindle.kv), which make their stubs on `self._channel`. `address` is what
    `spindle agent` printed; default: the SPINDLE_AGENT environment variable. `token`: the bearer
    token a TCP agent wants (default: $SPINDLE_TOKEN or the file $SPINDLE_TOKEN_FILE names)."""

    _stub: Any

    def __init__(self, address: Optional[str] = None, *, token: Optional[str] = None) -> None:
        self.address = _agent_address(address)
        self._plain_channel = grpc.insecure_channel(
            self.address,
            options=[
                ("grpc.max_receive_message_length", MESSAGE_MAX_BYTES),
                ("grpc.max_send_message_length", MESSAGE_MAX_BYTES),
            ],
        )
        self._channel = with_token(self._plain_channel, find_token(token))

    def close(self) -> None:
        self._plain_channel.close()

    def __enter__(self: _Client) -> _Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _call(self, method: str, request: Any) -> Any:
        """A unary call (or a client-streaming one, `request` being an iterator) of the stub."""
        try:
            return getattr(self._stub, method)(request)
        except grpc.RpcError as error:
            raise self._error(error) from None

    def _error(self, error: grpc.RpcError) -> SpindleError:
        code = error.code()  # type: ignore[attr-defined]
        details = error.details()  # type: ignore[attr-defined]
        if code == grpc.StatusCode.UNAVAILABLE:
            return SpindleError(
                code,
                f"cannot reach the spindle agent at {self.address} ({details}): start one with "
                f"`npx spindle agent --meta HOST:PORT` and pass the address it prints (or set {AGENT_ENV})",
            )
        # The agent's details start with the Spindle code name (e.g. "NOT_FOUND: dataset ... does not exist").
        return SpindleError(code, f"spindle agent at {self.address}: {details}")


class LoaderClient(_AgentClient):
    """The Loader service of one agent. `address` is what `spindle agent` printed (`127.0.0.1:PORT`
    or `unix:/path.sock`); default: the SPINDLE_AGENT environment variable. Close it when done (or
    use it in a `with` block)."""

    def __init__(self, address: Optional[str] = None, *, token: Optional[str] = None) -> None:
        super().__init__(address, token=token)
        self._stub = loader_pb2_grpc.LoaderStub(self._channel)

    def describe(
        self,
        dataset: str,
        batch_size: Optional[int] = None,
        world_size: int = 1,
        last_batch: str = "pad",
        timeout: Optional[float] = None,
    ) -> DatasetInfo:
        """The dataset at `dataset`; with a global `batch_size`, also its epoch's batch count."""
        request = loader_pb2.DescribeRequest(dataset=dataset)
        if batch_size is not None:
            request.batch_size = _integer("batch_size", batch_size, 1)
            request.world_size = _integer("world_size", world_size, 1, 2**32 - 1)
            request.last_batch = _last_batch(last_batch)
        try:
            response = self._stub.Describe(request, timeout=timeout)
        except grpc.RpcError as error:
            raise self._error(error) from None
        return DatasetInfo(
            dataset=response.dataset,
            dataset_id=response.dataset_id,
            samples=response.samples,
            bytes=response.bytes,
            batch_count=response.batch_count if response.HasField("batch_count") else None,
            samples_per_step=response.samples_per_step if response.HasField("samples_per_step") else None,
        )

    def stream(
        self,
        dataset: Optional[str] = None,
        *,
        batch_size: Optional[int] = None,
        seed: int = 0,
        epoch: int = 0,
        last_batch: str = "pad",
        rank: int = 0,
        world_size: int = 1,
        prefetch_bytes: Optional[int] = None,
        state: Optional[Dict[str, Any]] = None,
    ) -> Iterator[LoadedBatch]:
        """This rank's batches of an epoch: a new one (`dataset`, global `batch_size`, `seed`,
        `epoch`, `last_batch`) or the rest of a saved `state`. Leaving the loop early cancels the
        stream."""
        request = loader_pb2.StreamBatchesRequest(
            rank=_integer("rank", rank, 0, 2**32 - 1),
            world_size=_integer("world_size", world_size, 1, 2**32 - 1),
        )
        if prefetch_bytes is not None:
            request.prefetch_bytes = _integer("prefetch_bytes", prefetch_bytes, 1)
        if state is not None:
            if dataset is not None or batch_size is not None:
                raise ValueError("pass either state= (resume) or dataset= and batch_size= (a new epoch), not both")
            request.resume.CopyFrom(_state_message(state))
        else:
            if dataset is None or batch_size is None:
                raise ValueError("a new epoch needs dataset= and batch_size= (or pass state= to resume)")
            request.fresh.CopyFrom(
                loader_pb2.EpochOptions(
                    dataset=dataset,
                    seed=_integer("seed", seed, 0),
                    epoch=_integer("epoch", epoch, 0),
                    batch_size=_integer("batch_size", batch_size, 1),
                    last_batch=_last_batch(last_batch),
                )
            )
        return self._batches(request)

    def _batches(self, request: Any) -> Iterator[LoadedBatch]:
        call = self._stub.StreamBatches(request)
        try:
            for message in call:
                samples = [
                    LoadedSample(
                        index=sample.index,
                        key=sample.key if sample.HasField("key") else None,
                        data=sample.data,
                    )
                    for sample in message.samples
                ]
                yield LoadedBatch(message.batch_index, samples, _state_to_dict(message.cursor))
        except grpc.RpcError as error:
            raise self._error(error) from None
        finally:
            call.cancel()  # a stream left early stops the agent's reading; a finished one ignores it

def _placement() -> Tuple[int, int]:
    """(rank, world size): torch.distributed's when initialized, else RANK and WORLD_SIZE, else (0, 1)."""
    if _dist is not None and _dist.is_available() and _dist.is_initialized():
        return _dist.get_rank(), _dist.get_world_size()
    rank_text = os.environ.get("RANK")
    world_text = os.environ.get("WORLD_SIZE")
    if rank_text is None and world_text is None:
        return 0, 1
    try:
        rank = int(rank_text if rank_text is not None else "0")
        world = int(world_text if world_text is not None else "1")
    except ValueError:
        raise ValueError(f"RANK and WORLD_SIZE must be integers, got RANK={rank_text!r} WORLD_SIZE={world_text!r}")
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK must be in [0, WORLD_SIZE) and WORLD_SIZE >= 1, got RANK={rank} WORLD_SIZE={world}")
    return rank, world


class SpindleDataset(_IterableDataset):  # type: ignore[misc,valid-type]
    """One rank's batches of a packed dataset, from `spindle agent`. Use it with
    `torch.utils.data.DataLoader(dataset, batch_size=None)` (num_workers=0: the agent already
    reads ahead). Each item is a list of the samples' bytes, or `transform(samples)` of the
    LoadedSample list when a transform is given.

    `batch_size` is per rank; the global batch is batch_size × world size, where the rank and world
    size come from torch.distributed when it is initialized, else from RANK / WORLD_SIZE, else 0 / 1.
    """

    def __init__(
        self,
        dataset: str,
        batch_size: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        last_batch: str = "pad",
        prefetch_bytes: Optional[int] = None,
        agent: Optional[str] = None,
        transform: Optional[Callable[[List[LoadedSample]], Any]] = None,
    ) -> None:
        if _TORCH_ERROR is not None:
            raise ImportError("SpindleDataset needs torch (pip install 'spindle[torch]')") from _TORCH_ERROR
        super().__init__()
        self.dataset = dataset
        self.batch_size = _integer("batch_size", batch_size, 1)
        self.seed = _integer("seed", seed, 0)
        self.epoch = _integer("epoch", epoch, 0)
        _last_batch(last_batch)
        self.last_batch = last_batch
        self.prefetch_bytes = None if prefetch_bytes is None else _integer("prefetch_bytes", prefetch_bytes, 1)
        self.transform = transform
        self.agent = _agent_address(agent)
        #: Made on first use, in the process that iterates (a gRPC channel does not survive fork or pickle).
        self._client_instance: Optional[LoaderClient] = None
        #: The cursor after the last batch yielded in this epoch: the loaded cursor before a resumed
        #: iteration's first batch, None before a new epoch's first.
        self._state: Optional[Dict[str, Any]] = None
        #: A cursor from load_state_dict(), where the next iteration starts.
        self._resume: Optional[Dict[str, Any]] = None
        #: Batch counts by (global batch size, world size, last_batch): len() asks the agent once.
        self._batch_counts: Dict[Tuple[int, int, str], int] = {}

    @property
    def _client(self) -> LoaderClient:
        if self._client_instance is None:
            self._client_instance = LoaderClient(self.agent)
        return self._client_instance

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_client_instance"] = None
        return state

    def close(self) -> None:
        """Closes the connection to the agent (a later use opens a new one)."""
        if self._client_instance is not None:
            self._client_instance.close()
            self._client_instance = None

    def __iter__(self) -> Iterator[Any]:
        if _get_worker_info() is not None:
            raise RuntimeError(
                "SpindleDataset cannot run in DataLoader worker processes (num_workers > 0): each worker "
                "would read the rank's whole stream, and the agent already reads ahead (prefetch_bytes). "
                "Use DataLoader(dataset, batch_size=None, num_workers=0)."
            )
        rank, world_size = _placement()
        # Until the first batch arrives, state_dict() is where this iteration starts.
        self._state = self._resume
        if self._resume is not None:
            batches = self._client.stream(
                state=self._resume, rank=rank, world_size=world_size, prefetch_bytes=self.prefetch_bytes
            )
            self._resume = None
        else:
            batches = self._client.stream(
                self.dataset,
                batch_size=self.batch_size * world_size,
                seed=self.seed,
                epoch=self.epoch,
                last_batch=self.last_batch,
                rank=rank,
                world_size=world_size,
                prefetch_bytes=self.prefetch_bytes,
            )
        for batch in batches:
            self._state = batch.state
            yield self.transform(batch.samples) if self.transform else [s.data for s in batch.samples]

    def __len__(self) -> int:
        """Steps of the epoch being iterated (or next to be): the same on every rank. A resumed
        epoch keeps the global batch size of its cursor."""
        _, world_size = _placement()
        current = self._resume if self._resume is not None else self._state
        if current is not None:
            batching = (current["batch_size"], world_size, current["last_batch"])
        else:
            batching = (self.batch_size * world_size, world_size, self.last_batch)
        if batching not in self._batch_counts:
            info = self._client.describe(self.dataset, *batching)
            assert info.batch_count is not None
            self._batch_counts[batching] = info.batch_count
        return self._batch_counts[batching]

    def set_epoch(self, epoch: int) -> None:
        """The next iteration reads epoch `epoch` from its start (unless a loaded state is for it)."""
        self.epoch = _integer("epoch", epoch, 0)
        if self._resume is not None and self._resume["epoch"] != epoch:
            self._resume = None
        if self._state is not None and self._state["epoch"] != epoch:
            self._state = None

    def state_dict(self) -> Dict[str, Any]:
        """The cursor after the last batch yielded (JSON-able; the same on every rank)."""
        if self._resume is not None:
            return dict(self._resume)
        if self._state is not None:
            return dict(self._state)
        _, world_size = _placement()
        info = self._client.describe(self.dataset)
        return {
            "dataset": self.dataset,
            "dataset_id": info.dataset_id,
            "dataset_size": info.samples,
            "seed": self.seed,
            "epoch": self.epoch,
            "batch_size": self.batch_size * world_size,
            "last_batch": self.last_batch,
            "next_batch": 0,
        }

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """The next iteration continues `state` (from state_dict(), at any world size)."""
        _state_message(state)  # refuses a malformed state now rather than at the next iteration
        if state["dataset"] != self.dataset:
            raise ValueError(
                f"the state is for dataset {state['dataset']!r}, this SpindleDataset reads {self.dataset!r}"
            )
        self._resume = dict(state)
        self.seed = state["seed"]
        self.epoch = state["epoch"]
        self.last_batch = state["last_batch"]
        self._state = None
