from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LastBatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LAST_BATCH_UNSPECIFIED: _ClassVar[LastBatch]
    LAST_BATCH_DROP: _ClassVar[LastBatch]
    LAST_BATCH_PAD: _ClassVar[LastBatch]
LAST_BATCH_UNSPECIFIED: LastBatch
LAST_BATCH_DROP: LastBatch
LAST_BATCH_PAD: LastBatch

class DescribeRequest(_message.Message):
    __slots__ = ("dataset", "batch_size", "world_size", "last_batch")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    batch_size: int
    world_size: int
    last_batch: LastBatch
    def __init__(self, dataset: _Optional[str] = ..., batch_size: _Optional[int] = ..., world_size: _Optional[int] = ..., last_batch: _Optional[_Union[LastBatch, str]] = ...) -> None: ...

class DescribeResponse(_message.Message):
    __slots__ = ("dataset", "dataset_id", "samples", "bytes", "batch_count", "samples_per_step")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    BATCH_COUNT_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_PER_STEP_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    dataset_id: str
    samples: int
    bytes: int
    batch_count: int
    samples_per_step: int
    def __init__(self, dataset: _Optional[str] = ..., dataset_id: _Optional[str] = ..., samples: _Optional[int] = ..., bytes: _Optional[int] = ..., batch_count: _Optional[int] = ..., samples_per_step: _Optional[int] = ...) -> None: ...

class EpochOptions(_message.Message):
    __slots__ = ("dataset", "seed", "epoch", "batch_size", "last_batch")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    seed: int
    epoch: int
    batch_size: int
    last_batch: LastBatch
    def __init__(self, dataset: _Optional[str] = ..., seed: _Optional[int] = ..., epoch: _Optional[int] = ..., batch_size: _Optional[int] = ..., last_batch: _Optional[_Union[LastBatch, str]] = ...) -> None: ...

class LoaderState(_message.Message):
    __slots__ = ("dataset", "dataset_id", "dataset_size", "seed", "epoch", "batch_size", "last_batch", "next_batch")
    DATASET_FIELD_NUMBER: _ClassVar[int]
    DATASET_ID_FIELD_NUMBER: _ClassVar[int]
    DATASET_SIZE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LAST_BATCH_FIELD_NUMBER: _ClassVar[int]
    NEXT_BATCH_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    dataset_id: str
    dataset_size: int
    seed: int
    epoch: int
    batch_size: int
    last_batch: LastBatch
    next_batch: int
    def __init__(self, dataset: _Optional[str] = ..., dataset_id: _Optional[str] = ..., dataset_size: _Optional[int] = ..., seed: _Optional[int] = ..., epoch: _Optional[int] = ..., batch_size: _Optional[int] = ..., last_batch: _Optional[_Union[LastBatch, str]] = ..., next_batch: _Optional[int] = ...) -> None: ...

class StreamBatchesRequest(_message.Message):
    __slots__ = ("fresh", "resume", "rank", "world_size", "prefetch_bytes")
    FRESH_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    WORLD_SIZE_FIELD_NUMBER: _ClassVar[int]
    PREFETCH_BYTES_FIELD_NUMBER: _ClassVar[int]
    fresh: EpochOptions
    resume: LoaderState
    rank: int
    world_size: int
    prefetch_bytes: int
    def __init__(self, fresh: _Optional[_Union[EpochOptions, _Mapping]] = ..., resume: _Optional[_Union[LoaderState, _Mapping]] = ..., rank: _Optional[int] = ..., world_size: _Optional[int] = ..., prefetch_bytes: _Optional[int] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("index", "key", "data")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    index: int
    key: str
    data: bytes
    def __init__(self, index: _Optional[int] = ..., key: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("batch_index", "samples", "cursor")
    BATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    batch_index: int
    samples: _containers.RepeatedCompositeFieldContainer[Sample]
    cursor: LoaderState
    def __init__(self, batch_index: _Optional[int] = ..., samples: _Optional[_Iterable[_Union[Sample, _Mapping]]] = ..., cursor: _Optional[_Union[LoaderState, _Mapping]] = ...) -> None: ...
