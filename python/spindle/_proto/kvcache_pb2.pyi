from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class KvCachePutStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KV_CACHE_PUT_STATUS_INVALID: _ClassVar[KvCachePutStatus]
    KV_CACHE_PUT_STORED: _ClassVar[KvCachePutStatus]
    KV_CACHE_PUT_ALREADY_PRESENT: _ClassVar[KvCachePutStatus]
    KV_CACHE_PUT_PARENT_MISSING: _ClassVar[KvCachePutStatus]
    KV_CACHE_PUT_PARENT_EXPIRED: _ClassVar[KvCachePutStatus]
    KV_CACHE_PUT_REJECTED_MISMATCH: _ClassVar[KvCachePutStatus]
    KV_CACHE_PUT_REJECTED_FULL: _ClassVar[KvCachePutStatus]
    KV_CACHE_PUT_REJECTED_TOO_LARGE: _ClassVar[KvCachePutStatus]

class KvCacheGetStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KV_CACHE_GET_STATUS_INVALID: _ClassVar[KvCacheGetStatus]
    KV_CACHE_GET_FOUND: _ClassVar[KvCacheGetStatus]
    KV_CACHE_GET_MISSING: _ClassVar[KvCacheGetStatus]
    KV_CACHE_GET_DEFERRED: _ClassVar[KvCacheGetStatus]

class KvCacheRemoveStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KV_CACHE_REMOVE_STATUS_INVALID: _ClassVar[KvCacheRemoveStatus]
    KV_CACHE_REMOVE_REMOVED: _ClassVar[KvCacheRemoveStatus]
    KV_CACHE_REMOVE_NOT_FOUND: _ClassVar[KvCacheRemoveStatus]
    KV_CACHE_REMOVE_REJECTED_LEASED: _ClassVar[KvCacheRemoveStatus]
KV_CACHE_PUT_STATUS_INVALID: KvCachePutStatus
KV_CACHE_PUT_STORED: KvCachePutStatus
KV_CACHE_PUT_ALREADY_PRESENT: KvCachePutStatus
KV_CACHE_PUT_PARENT_MISSING: KvCachePutStatus
KV_CACHE_PUT_PARENT_EXPIRED: KvCachePutStatus
KV_CACHE_PUT_REJECTED_MISMATCH: KvCachePutStatus
KV_CACHE_PUT_REJECTED_FULL: KvCachePutStatus
KV_CACHE_PUT_REJECTED_TOO_LARGE: KvCachePutStatus
KV_CACHE_GET_STATUS_INVALID: KvCacheGetStatus
KV_CACHE_GET_FOUND: KvCacheGetStatus
KV_CACHE_GET_MISSING: KvCacheGetStatus
KV_CACHE_GET_DEFERRED: KvCacheGetStatus
KV_CACHE_REMOVE_STATUS_INVALID: KvCacheRemoveStatus
KV_CACHE_REMOVE_REMOVED: KvCacheRemoveStatus
KV_CACHE_REMOVE_NOT_FOUND: KvCacheRemoveStatus
KV_CACHE_REMOVE_REJECTED_LEASED: KvCacheRemoveStatus

class KvCacheNamespace(_message.Message):
    __slots__ = ("name", "model_id", "kv_dtype", "layout", "page_tokens", "tp_rank", "tp_size", "replicas", "capacity_bytes")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_ID_FIELD_NUMBER: _ClassVar[int]
    KV_DTYPE_FIELD_NUMBER: _ClassVar[int]
    LAYOUT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TP_RANK_FIELD_NUMBER: _ClassVar[int]
    TP_SIZE_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    name: str
    model_id: str
    kv_dtype: str
    layout: str
    page_tokens: int
    tp_rank: int
    tp_size: int
    replicas: int
    capacity_bytes: int
    def __init__(self, name: _Optional[str] = ..., model_id: _Optional[str] = ..., kv_dtype: _Optional[str] = ..., layout: _Optional[str] = ..., page_tokens: _Optional[int] = ..., tp_rank: _Optional[int] = ..., tp_size: _Optional[int] = ..., replicas: _Optional[int] = ..., capacity_bytes: _Optional[int] = ...) -> None: ...

class KvCachePage(_message.Message):
    __slots__ = ("key", "parent_key", "value", "ttl_ms")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PARENT_KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TTL_MS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    parent_key: bytes
    value: bytes
    ttl_ms: int
    def __init__(self, key: _Optional[bytes] = ..., parent_key: _Optional[bytes] = ..., value: _Optional[bytes] = ..., ttl_ms: _Optional[int] = ...) -> None: ...

class KvCachePutRequest(_message.Message):
    __slots__ = ("namespace", "root_key", "pages")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    namespace: KvCacheNamespace
    root_key: bytes
    pages: _containers.RepeatedCompositeFieldContainer[KvCachePage]
    def __init__(self, namespace: _Optional[_Union[KvCacheNamespace, _Mapping]] = ..., root_key: _Optional[bytes] = ..., pages: _Optional[_Iterable[_Union[KvCachePage, _Mapping]]] = ...) -> None: ...

class KvCachePutResult(_message.Message):
    __slots__ = ("status", "reason", "retry_after_ms")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    status: KvCachePutStatus
    reason: str
    retry_after_ms: int
    def __init__(self, status: _Optional[_Union[KvCachePutStatus, str]] = ..., reason: _Optional[str] = ..., retry_after_ms: _Optional[int] = ...) -> None: ...

class KvCachePutResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[KvCachePutResult]
    def __init__(self, results: _Optional[_Iterable[_Union[KvCachePutResult, _Mapping]]] = ...) -> None: ...

class KvCacheGetRequest(_message.Message):
    __slots__ = ("namespace", "root_key", "keys")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    namespace: KvCacheNamespace
    root_key: bytes
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, namespace: _Optional[_Union[KvCacheNamespace, _Mapping]] = ..., root_key: _Optional[bytes] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class KvCacheGetResult(_message.Message):
    __slots__ = ("status", "value")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    status: KvCacheGetStatus
    value: bytes
    def __init__(self, status: _Optional[_Union[KvCacheGetStatus, str]] = ..., value: _Optional[bytes] = ...) -> None: ...

class KvCacheGetResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[KvCacheGetResult]
    def __init__(self, results: _Optional[_Iterable[_Union[KvCacheGetResult, _Mapping]]] = ...) -> None: ...

class KvCacheExistsRequest(_message.Message):
    __slots__ = ("namespace", "root_key", "keys")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    namespace: KvCacheNamespace
    root_key: bytes
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, namespace: _Optional[_Union[KvCacheNamespace, _Mapping]] = ..., root_key: _Optional[bytes] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class KvCacheExistsResponse(_message.Message):
    __slots__ = ("present",)
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    present: _containers.RepeatedScalarFieldContainer[bool]
    def __init__(self, present: _Optional[_Iterable[bool]] = ...) -> None: ...

class KvCacheRemoveRequest(_message.Message):
    __slots__ = ("namespace", "root_key", "keys")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    namespace: KvCacheNamespace
    root_key: bytes
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, namespace: _Optional[_Union[KvCacheNamespace, _Mapping]] = ..., root_key: _Optional[bytes] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class KvCacheRemoveResult(_message.Message):
    __slots__ = ("status", "removed_pages", "retry_after_ms")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REMOVED_PAGES_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    status: KvCacheRemoveStatus
    removed_pages: int
    retry_after_ms: int
    def __init__(self, status: _Optional[_Union[KvCacheRemoveStatus, str]] = ..., removed_pages: _Optional[int] = ..., retry_after_ms: _Optional[int] = ...) -> None: ...

class KvCacheRemoveResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[KvCacheRemoveResult]
    def __init__(self, results: _Optional[_Iterable[_Union[KvCacheRemoveResult, _Mapping]]] = ...) -> None: ...

class KvCacheMatchPrefixRequest(_message.Message):
    __slots__ = ("namespace", "keys", "lease_ms")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    LEASE_MS_FIELD_NUMBER: _ClassVar[int]
    namespace: KvCacheNamespace
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    lease_ms: int
    def __init__(self, namespace: _Optional[_Union[KvCacheNamespace, _Mapping]] = ..., keys: _Optional[_Iterable[bytes]] = ..., lease_ms: _Optional[int] = ...) -> None: ...

class KvCacheMatchPrefixResponse(_message.Message):
    __slots__ = ("matched_count", "lease_until_ms")
    MATCHED_COUNT_FIELD_NUMBER: _ClassVar[int]
    LEASE_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    matched_count: int
    lease_until_ms: int
    def __init__(self, matched_count: _Optional[int] = ..., lease_until_ms: _Optional[int] = ...) -> None: ...
