from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BeginRequest(_message.Message):
    __slots__ = ("dir", "step", "world_size", "rank", "save_id", "keep_last", "keep_every")
    DIR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    SAVE_ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_LAST_FIELD_NUMBER: _ClassVar[int]
    KEEP_EVERY_FIELD_NUMBER: _ClassVar[int]
    dir: str
    step: int
    world_size: int
    rank: int
    save_id: str
    keep_last: int
    keep_every: int
    def __init__(self, dir: _Optional[str] = ..., step: _Optional[int] = ..., world_size: _Optional[int] = ..., rank: _Optional[int] = ..., save_id: _Optional[str] = ..., keep_last: _Optional[int] = ..., keep_every: _Optional[int] = ...) -> None: ...

class BeginResponse(_message.Message):
    __slots__ = ("save", "staging_path", "save_id")
    SAVE_FIELD_NUMBER: _ClassVar[int]
    STAGING_PATH_FIELD_NUMBER: _ClassVar[int]
    SAVE_ID_FIELD_NUMBER: _ClassVar[int]
    save: str
    staging_path: str
    save_id: str
    def __init__(self, save: _Optional[str] = ..., staging_path: _Optional[str] = ..., save_id: _Optional[str] = ...) -> None: ...

class ShardChunk(_message.Message):
    __slots__ = ("save", "name", "data", "last")
    SAVE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    save: str
    name: str
    data: bytes
    last: bool
    def __init__(self, save: _Optional[str] = ..., name: _Optional[str] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ...) -> None: ...

class ShardInfo(_message.Message):
    __slots__ = ("rank", "name", "bytes", "crc32c")
    RANK_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    rank: int
    name: str
    bytes: int
    crc32c: int
    def __init__(self, rank: _Optional[int] = ..., name: _Optional[str] = ..., bytes: _Optional[int] = ..., crc32c: _Optional[int] = ...) -> None: ...

class AdoptShardRequest(_message.Message):
    __slots__ = ("save", "name")
    SAVE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    save: str
    name: str
    def __init__(self, save: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class FinishRequest(_message.Message):
    __slots__ = ("save", "user_metadata_json")
    SAVE_FIELD_NUMBER: _ClassVar[int]
    USER_METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    save: str
    user_metadata_json: str
    def __init__(self, save: _Optional[str] = ..., user_metadata_json: _Optional[str] = ...) -> None: ...

class FinishResponse(_message.Message):
    __slots__ = ("committed", "missing_ranks", "committer", "deleted_steps", "manifest")
    COMMITTED_FIELD_NUMBER: _ClassVar[int]
    MISSING_RANKS_FIELD_NUMBER: _ClassVar[int]
    COMMITTER_FIELD_NUMBER: _ClassVar[int]
    DELETED_STEPS_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    committed: bool
    missing_ranks: _containers.RepeatedScalarFieldContainer[int]
    committer: bool
    deleted_steps: _containers.RepeatedScalarFieldContainer[int]
    manifest: Manifest
    def __init__(self, committed: _Optional[bool] = ..., missing_ranks: _Optional[_Iterable[int]] = ..., committer: _Optional[bool] = ..., deleted_steps: _Optional[_Iterable[int]] = ..., manifest: _Optional[_Union[Manifest, _Mapping]] = ...) -> None: ...

class AbortRequest(_message.Message):
    __slots__ = ("save",)
    SAVE_FIELD_NUMBER: _ClassVar[int]
    save: str
    def __init__(self, save: _Optional[str] = ...) -> None: ...

class AbortResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("dir",)
    DIR_FIELD_NUMBER: _ClassVar[int]
    dir: str
    def __init__(self, dir: _Optional[str] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("steps",)
    STEPS_FIELD_NUMBER: _ClassVar[int]
    steps: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, steps: _Optional[_Iterable[int]] = ...) -> None: ...

class LoadRequest(_message.Message):
    __slots__ = ("dir", "step")
    DIR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    dir: str
    step: int
    def __init__(self, dir: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...

class Manifest(_message.Message):
    __slots__ = ("step", "world_size", "save_id", "created_at", "user_metadata_json", "shards")
    STEP_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    SAVE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    USER_METADATA_JSON_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    step: int
    world_size: int
    save_id: str
    created_at: str
    user_metadata_json: str
    shards: _containers.RepeatedCompositeFieldContainer[ShardInfo]
    def __init__(self, step: _Optional[int] = ..., world_size: _Optional[int] = ..., save_id: _Optional[str] = ..., created_at: _Optional[str] = ..., user_metadata_json: _Optional[str] = ..., shards: _Optional[_Iterable[_Union[ShardInfo, _Mapping]]] = ...) -> None: ...

class ReadShardRequest(_message.Message):
    __slots__ = ("dir", "step", "rank", "name", "offset", "length")
    DIR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    dir: str
    step: int
    rank: int
    name: str
    offset: int
    length: int
    def __init__(self, dir: _Optional[str] = ..., step: _Optional[int] = ..., rank: _Optional[int] = ..., name: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class ShardData(_message.Message):
    __slots__ = ("data", "offset")
    DATA_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    offset: int
    def __init__(self, data: _Optional[bytes] = ..., offset: _Optional[int] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("dir", "step")
    DIR_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    dir: str
    step: int
    def __init__(self, dir: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
