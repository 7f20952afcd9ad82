"""The data of spindle.kv (kv.py) and its conversions to and from proto/kvcache.proto messages: the
namespace config, per-page put and remove results, hash-chain keys, and tensors as page bytes.
No network: the client (kv.py) does the calls. torch is imported only by the tensor helpers."""

from __future__ import annotations

import hashlib
import struct
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, List, Optional, Sequence, Union

from ._proto import kvcache_pb2

#: A page key: 32 bytes (SHA-256 of the hash chain).
KEY_BYTES = 32
#: Keys or pages per Put, Get, Exists or Remove call (the agent's batch limit).
BATCH_KEYS_MAX = 128

#: Token ids of one page: a list of ints, or anything iterable of ints (a 1-D tensor).
TokenBlock = Union[Sequence[int], Any]


@dataclass(frozen=True)
class KvNamespace:
    """A KV-cache namespace (docs/kvcache.md "Namespaces"). model_id, kv_dtype, layout,
    page_tokens and the TP slice say what a page's bytes mean: a writer with another meaning under
    the same name is refused. replicas and capacity_bytes (per storage target) say how pages are kept."""

    name: str
    model_id: str
    #: float16, bfloat16, float32, float8_e4m3, float8_e5m2 or int8.
    kv_dtype: str
    #: The engine's page layout, opaque to Spindle (e.g. "vllm-nhd").
    layout: str
    #: Tokens per page (the engine's block size).
    page_tokens: int
    #: Bytes of page values the namespace may hold on one storage target.
    capacity_bytes: int
    tp_rank: int = 0
    tp_size: int = 1
    replicas: int = 3

    def message(self) -> kvcache_pb2.KvCacheNamespace:
        return kvcache_pb2.KvCacheNamespace(
            name=self.name,
            model_id=self.model_id,
            kv_dtype=self.kv_dtype,
            layout=self.layout,
            page_tokens=self.page_tokens,
            tp_rank=self.tp_rank,
            tp_size=self.tp_size,
            replicas=self.replicas,
            capacity_bytes=self.capacity_bytes,
        )


@dataclass(frozen=True)
class PutResult:
    """One page's put: `status` is STORED, ALREADY_PRESENT, PARENT_MISSING, PARENT_EXPIRED,
    REJECTED_MISMATCH, REJECTED_FULL or REJECTED_TOO_LARGE; `reason` says why it was not stored;
    with REJECTED_FULL, retry after `retry_after_ms` (0: at once)."""

    status: str
    reason: str
    retry_after_ms: int

    @property
    def ok(self) -> bool:
        """The page is stored (now or before)."""
        return self.status in ("STORED", "ALREADY_PRESENT")


@dataclass(frozen=True)
class RemoveResult:
    """One page's removal: REMOVED (with `removed_pages`, its subtree included), NOT_FOUND, or
    REJECTED_LEASED (a lease holds it for `retry_after_ms` more)."""

    status: str
    removed_pages: int
    retry_after_ms: int


def put_result(message: Any) -> PutResult:
    name = kvcache_pb2.KvCachePutStatus.Name(message.status).replace("KV_CACHE_PUT_", "")
    return PutResult(name, message.reason, message.retry_after_ms)


def remove_result(message: Any) -> RemoveResult:
    name = kvcache_pb2.KvCacheRemoveStatus.Name(message.status).replace("KV_CACHE_REMOVE_", "")
    return RemoveResult(name, message.removed_pages, message.retry_after_ms)


def as_key(key: Any, field: str) -> bytes:
    """A key as bytes (bytes, bytearray or memoryview); its length is the agent's to check."""
    if isinstance(key, bytes):
        return key
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    raise TypeError(f"{field} must be bytes ({KEY_BYTES} of them), got {type(key).__name__}")


def chain_keys(token_blocks: Iterable[TokenBlock], prefix: bytes = b"") -> List[bytes]:
    """The page keys of a prompt: key i = SHA-256(key i-1, or `prefix` for the first, then page i's
    token ids as little-endian int64). So key i commits to every token before it, and two prompts
    share exactly the keys of the pages they share. `prefix` salts the chain (a LoRA id, say)."""
    keys: List[bytes] = []
    previous = prefix
    for block in token_blocks:
        tokens = [int(token) for token in block]
        previous = hashlib.sha256(previous + struct.pack(f"<{len(tokens)}q", *tokens)).digest()
        keys.append(previous)
    return keys


def tensor_bytes(tensor: Any) -> bytes:
    """A tensor's bytes (row-major, its own dtype), as a page value. Moves it to the CPU and makes it
    contiguous when it is not; then one copy into the bytes object gRPC sends."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    import torch

    return flat.view(torch.uint8).numpy().tobytes()


def tensor_from_bytes(data: bytes, dtype: Any, shape: Sequence[int], *, writable: bool = False) -> Any:
    """A CPU tensor of `dtype` and `shape` over a page's bytes. Without `writable` it shares `data`
    (no copy) and must not be written to (bytes are immutable): copy it to a device or clone() it.
    With `writable` the bytes are copied first."""
    import torch

    buffer = bytearray(data) if writable else data
    with warnings.catch_warnings():
        # torch warns about a non-writable buffer; the tensor is documented read-only.
        warnings.simplefilter("ignore", UserWarning)
        flat = torch.frombuffer(buffer, dtype=dtype)
    expected = 1
    for size in shape:
        expected *= int(size)
    if flat.numel() != expected:
        raise ValueError(f"the page has {len(data)} bytes: {flat.numel()} of {dtype}, not {tuple(shape)}")
    return flat.reshape(tuple(shape))


def batches(count: int) -> Iterable[range]:
    """Consecutive ranges of at most BATCH_KEYS_MAX positions."""
    for start in range(0, count, BATCH_KEYS_MAX):
        yield range(start, min(count, start + BATCH_KEYS_MAX))


def optional_key(key: Optional[Any], field: str) -> bytes:
    return b"" if key is None else as_key(key, field)
