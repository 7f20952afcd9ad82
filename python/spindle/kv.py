"""A shared KV-cache store for inference engines through `spindle agent` (docs/kvcache.md, "From
Python"). KvClient is shaped like an LMCache / Mooncake Store remote backend (put, get, exists,
batch_put, batch_get, batch_exists, remove) plus match_prefix, on the agent's KvCache service
(proto/kvcache.proto). What it guarantees:

- Pages are keyed by 32-byte keys of a hash chain over the prompt's token blocks (chain_keys()).
  The pages of one prefix tree are placed together by its root (the chain's first key): calls name
  it with `root=`, or it is the first key given. A page's parent must be stored first (prefix-closed
  eviction): batch_put() stores a chain in order, in batches of 128.
- Every put returns a PutResult per page, never a silent drop: STORED, ALREADY_PRESENT, or why not
  (PARENT_MISSING, REJECTED_FULL with a retry hint, ...).
- get() returns a page's own bytes or None (a miss), never another page's bytes. match_prefix()
  returns how many leading keys of a chain are stored, in one call; with `lease_ms` those pages stay
  at least that long (they cannot be evicted between the lookup and the load).
- Torch tensors go in and out as their bytes (put_tensor, get_tensor, get_into); see tensor_bytes()
  and tensor_from_bytes() for the copies made.
- A failed call raises SpindleError with the gRPC status and the agent's message (bad input is
  INVALID_ARGUMENT naming the field, and nothing is stored); a key that is not bytes, TypeError.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from ._kv_messages import (
    KEY_BYTES,
    KvNamespace,
    PutResult,
    RemoveResult,
    as_key,
    batches,
    chain_keys,
    optional_key,
    put_result,
    remove_result,
    tensor_bytes,
    tensor_from_bytes,
)
from ._proto import kvcache_pb2, kvcache_pb2_grpc
from .loader import SpindleError, _AgentClient

__all__ = [
    "KEY_BYTES",
    "KvClient",
    "KvNamespace",
    "PutResult",
    "RemoveResult",
    "chain_keys",
    "tensor_bytes",
    "tensor_from_bytes",
]

_FOUND = kvcache_pb2.KV_CACHE_GET_FOUND
_DEFERRED = kvcache_pb2.KV_CACHE_GET_DEFERRED
#: Rounds of re-asking for pages a reply deferred (each round reads at least one page).
_DEFERRED_ROUNDS_MAX = 128


class KvClient(_AgentClient):
    """The KvCache service of one agent, for one namespace. `address` is what `spindle agent` printed
    (`127.0.0.1:PORT` or `unix:/path.sock`); default: the SPINDLE_AGENT environment variable. Close
    it when done (or use it in a `with` block)."""

    def __init__(self, address: Optional[str] = None, *, namespace: KvNamespace, token: Optional[str] = None) -> None:
        super().__init__(address, token=token)
        self.namespace = namespace
        self._namespace = namespace.message()
        self._stub = kvcache_pb2_grpc.KvCacheStub(self._channel)

    # Puts

    def put(
        self,
        key: bytes,
        value: bytes,
        parent: Optional[bytes] = None,
        *,
        root: Optional[bytes] = None,
        ttl_ms: Optional[int] = None,
    ) -> PutResult:
        """Stores one page under `parent` (None: `key` is a chain's first page). A page with a parent
        needs its chain's `root`."""
        return self.batch_put([key], [value], parent, root=root, ttl_ms=ttl_ms)[0]

    def batch_put(
        self,
        keys: Sequence[bytes],
        values: Sequence[bytes],
        parent: Optional[bytes] = None,
        *,
        parents: Optional[Sequence[Optional[bytes]]] = None,
        root: Optional[bytes] = None,
        ttl_ms: Optional[int] = None,
    ) -> List[PutResult]:
        """Stores pages in order, one PutResult each. By default `keys` are a chain: keys[0]'s parent
        is `parent` (None: keys[0] is the root), each next key's parent the key before; `parents`
        gives each page's parent instead. `root` is the chain's first key (default: keys[0], which
        then must have no parent). Sent in batches of 128, parents first."""
        if len(values) != len(keys):
            raise ValueError(f"batch_put: {len(keys)} keys but {len(values)} values")
        if parents is not None and len(parents) != len(keys):
            raise ValueError(f"batch_put: {len(keys)} keys but {len(parents)} parents")
        key_bytes = [as_key(key, f"keys[{i}]") for i, key in enumerate(keys)]
        if parents is None:
            parents = [parent, *key_bytes[:-1]]
        parent_bytes = [None if p is None else as_key(p, f"parents[{i}]") for i, p in enumerate(parents)]
        if root is None and key_bytes and parent_bytes[0] is None:
            root = key_bytes[0]
        root_key = optional_key(root, "root")
        results: List[PutResult] = []
        for positions in batches(len(key_bytes)):
            pages = [
                kvcache_pb2.KvCachePage(
                    key=key_bytes[i], parent_key=parent_bytes[i], value=_value(values[i], i), ttl_ms=ttl_ms
                )
                for i in positions
            ]
            request = kvcache_pb2.KvCachePutRequest(namespace=self._namespace, root_key=root_key, pages=pages)
            results.extend(put_result(r) for r in self._call("Put", request).results)
        return results

    def put_tensor(self, key: bytes, tensor: Any, parent: Optional[bytes] = None, **options: Any) -> PutResult:
        """put() of a tensor's bytes (tensor_bytes(): one copy, on the CPU)."""
        return self.put(key, tensor_bytes(tensor), parent, **options)

    # Reads

    def get(self, key: bytes, *, root: Optional[bytes] = None) -> Optional[bytes]:
        """The page's bytes, or None when it is not stored. `root`: its chain's first key (default `key`)."""
        return self.batch_get([key], root=root)[0]

    def batch_get(self, keys: Sequence[bytes], *, root: Optional[bytes] = None) -> List[Optional[bytes]]:
        """Each page's bytes or None, in order; `root` defaults to keys[0]. Pages an agent reply
        deferred (its size bound) are asked for again."""
        key_bytes = [as_key(key, f"keys[{i}]") for i, key in enumerate(keys)]
        root_key = optional_key(root if root is not None or not key_bytes else key_bytes[0], "root")
        values: List[Optional[bytes]] = [None] * len(key_bytes)
        for positions in batches(len(key_bytes)):
            wanted = list(positions)
            for _ in range(_DEFERRED_ROUNDS_MAX):
                if not wanted:
                    break
                request = kvcache_pb2.KvCacheGetRequest(
                    namespace=self._namespace, root_key=root_key, keys=[key_bytes[i] for i in wanted]
                )
                deferred = []
                for at, result in zip(wanted, self._call("Get", request).results):
                    if result.status == _FOUND:
                        values[at] = result.value
                    elif result.status == _DEFERRED:
                        deferred.append(at)
                wanted = deferred
        return values

    def get_tensor(self, key: bytes, dtype: Any, shape: Sequence[int], *, root: Optional[bytes] = None) -> Any:
        """The page as a read-only CPU tensor of `dtype` and `shape` over its bytes (no copy), or None."""
        data = self.get(key, root=root)
        return None if data is None else tensor_from_bytes(data, dtype, shape)

    def get_into(self, key: bytes, out: Any, *, root: Optional[bytes] = None) -> bool:
        """Copies the page into `out` (a tensor of any device whose dtype and shape give the page's
        size): one copy from the reply. False (and `out` untouched) when it is not stored."""
        data = self.get(key, root=root)
        if data is None:
            return False
        out.copy_(tensor_from_bytes(data, out.dtype, out.shape))
        return True

    def exists(self, key: bytes, *, root: Optional[bytes] = None) -> bool:
        """Whether the page is stored (not a use for LRU)."""
        return self.batch_exists([key], root=root)[0]

    def batch_exists(self, keys: Sequence[bytes], *, root: Optional[bytes] = None) -> List[bool]:
        key_bytes = [as_key(key, f"keys[{i}]") for i, key in enumerate(keys)]
        root_key = optional_key(root if root is not None or not key_bytes else key_bytes[0], "root")
        present: List[bool] = []
        for positions in batches(len(key_bytes)):
            request = kvcache_pb2.KvCacheExistsRequest(
                namespace=self._namespace, root_key=root_key, keys=[key_bytes[i] for i in positions]
            )
            present.extend(self._call("Exists", request).present)
        return present

    def match_prefix(self, keys: Sequence[bytes], lease_ms: Optional[int] = None) -> int:
        """How many leading keys of the chain `keys` (from its root) are stored, in one call. With
        `lease_ms` (at most 600,000) the matched pages stay at least that long."""
        key_bytes = [as_key(key, f"keys[{i}]") for i, key in enumerate(keys)]
        if not key_bytes:
            return 0
        request = kvcache_pb2.KvCacheMatchPrefixRequest(namespace=self._namespace, keys=key_bytes, lease_ms=lease_ms)
        return self._call("MatchPrefix", request).matched_count

    # Removal

    def remove(self, key: bytes, *, root: Optional[bytes] = None) -> RemoveResult:
        """Removes the page with its whole subtree (REJECTED_LEASED while a lease holds it)."""
        return self.batch_remove([key], root=root)[0]

    def batch_remove(self, keys: Sequence[bytes], *, root: Optional[bytes] = None) -> List[RemoveResult]:
        key_bytes = [as_key(key, f"keys[{i}]") for i, key in enumerate(keys)]
        root_key = optional_key(root if root is not None or not key_bytes else key_bytes[0], "root")
        results: List[RemoveResult] = []
        for positions in batches(len(key_bytes)):
            request = kvcache_pb2.KvCacheRemoveRequest(
                namespace=self._namespace, root_key=root_key, keys=[key_bytes[i] for i in positions]
            )
            results.extend(remove_result(r) for r in self._call("Remove", request).results)
        return results

def _value(value: Any, at: int) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(
        f"values[{at}] must be bytes (use put_tensor or tensor_bytes for a tensor), got {type(value).__name__}"
    )
