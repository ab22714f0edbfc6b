import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CiferStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CIFER_STATUS_UNSPECIFIED: _ClassVar[CiferStatus]
    CIFER_STATUS_PENDING: _ClassVar[CiferStatus]
    CIFER_STATUS_ACTIVE: _ClassVar[CiferStatus]
    CIFER_STATUS_ROTATING: _ClassVar[CiferStatus]
    CIFER_STATUS_REVOKED: _ClassVar[CiferStatus]
CIFER_STATUS_UNSPECIFIED: CiferStatus
CIFER_STATUS_PENDING: CiferStatus
CIFER_STATUS_ACTIVE: CiferStatus
CIFER_STATUS_ROTATING: CiferStatus
CIFER_STATUS_REVOKED: CiferStatus

class CreateCiferRequest(_message.Message):
    __slots__ = ("name", "description", "metadata", "policy")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    metadata: _containers.ScalarMap[str, str]
    policy: CiferPolicy
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., policy: _Optional[_Union[CiferPolicy, _Mapping]] = ...) -> None: ...

class CiferResponse(_message.Message):
    __slots__ = ("cifer_id", "name", "description", "status", "created_at", "updated_at", "owner_id", "encapsulation_key", "key_version", "metadata", "policy")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    ENCAPSULATION_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    name: str
    description: str
    status: CiferStatus
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    owner_id: str
    encapsulation_key: bytes
    key_version: int
    metadata: _containers.ScalarMap[str, str]
    policy: CiferPolicy
    def __init__(self, cifer_id: _Optional[str] = ..., name: _Optional[str] = ..., description: _Optional[str] = ..., status: _Optional[_Union[CiferStatus, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., owner_id: _Optional[str] = ..., encapsulation_key: _Optional[bytes] = ..., key_version: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ..., policy: _Optional[_Union[CiferPolicy, _Mapping]] = ...) -> None: ...

class EncryptRequest(_message.Message):
    __slots__ = ("cifer_id", "plaintext", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    plaintext: bytes
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, cifer_id: _Optional[str] = ..., plaintext: _Optional[bytes] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class EncryptResponse(_message.Message):
    __slots__ = ("ciphertext", "envelope_size", "algorithm")
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_SIZE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    ciphertext: bytes
    envelope_size: int
    algorithm: Algorithm
    def __init__(self, ciphertext: _Optional[bytes] = ..., envelope_size: _Optional[int] = ..., algorithm: _Optional[_Union[Algorithm, _Mapping]] = ...) -> None: ...

class DecryptRequest(_message.Message):
    __slots__ = ("ciphertext",)
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    ciphertext: bytes
    def __init__(self, ciphertext: _Optional[bytes] = ...) -> None: ...

class DecryptResponse(_message.Message):
    __slots__ = ("plaintext", "cifer_id", "key_version", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PLAINTEXT_FIELD_NUMBER: _ClassVar[int]
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    plaintext: bytes
    cifer_id: str
    key_version: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, plaintext: _Optional[bytes] = ..., cifer_id: _Optional[str] = ..., key_version: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class EncryptStreamRequest(_message.Message):
    __slots__ = ("init", "chunk")
    INIT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    init: EncryptStreamInit
    chunk: bytes
    def __init__(self, init: _Optional[_Union[EncryptStreamInit, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class EncryptStreamInit(_message.Message):
    __slots__ = ("cifer_id", "total_size", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    total_size: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, cifer_id: _Optional[str] = ..., total_size: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class EncryptStreamResponse(_message.Message):
    __slots__ = ("header", "chunk", "complete")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    header: EncryptStreamHeader
    chunk: bytes
    complete: EncryptStreamComplete
    def __init__(self, header: _Optional[_Union[EncryptStreamHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ..., complete: _Optional[_Union[EncryptStreamComplete, _Mapping]] = ...) -> None: ...

class EncryptStreamHeader(_message.Message):
    __slots__ = ("total_size", "algorithm")
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    total_size: int
    algorithm: Algorithm
    def __init__(self, total_size: _Optional[int] = ..., algorithm: _Optional[_Union[Algorithm, _Mapping]] = ...) -> None: ...

class EncryptStreamComplete(_message.Message):
    __slots__ = ("checksum",)
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    checksum: bytes
    def __init__(self, checksum: _Optional[bytes] = ...) -> None: ...

class Algorithm(_message.Message):
    __slots__ = ("kem", "aead")
    KEM_FIELD_NUMBER: _ClassVar[int]
    AEAD_FIELD_NUMBER: _ClassVar[int]
    kem: str
    aead: str
    def __init__(self, kem: _Optional[str] = ..., aead: _Optional[str] = ...) -> None: ...

class CiferPolicy(_message.Message):
    __slots__ = ("auto_rotate_days", "allowed_operations")
    AUTO_ROTATE_DAYS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    auto_rotate_days: int
    allowed_operations: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, auto_rotate_days: _Optional[int] = ..., allowed_operations: _Optional[_Iterable[str]] = ...) -> None: ...

class GetCiferRequest(_message.Message):
    __slots__ = ("cifer_id",)
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    def __init__(self, cifer_id: _Optional[str] = ...) -> None: ...

class ListCifersRequest(_message.Message):
    __slots__ = ("status", "limit", "cursor")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    CURSOR_FIELD_NUMBER: _ClassVar[int]
    status: CiferStatus
    limit: int
    cursor: str
    def __init__(self, status: _Optional[_Union[CiferStatus, str]] = ..., limit: _Optional[int] = ..., cursor: _Optional[str] = ...) -> None: ...

class ListCifersResponse(_message.Message):
    __slots__ = ("cifers", "next_cursor", "has_more")
    CIFERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_CURSOR_FIELD_NUMBER: _ClassVar[int]
    HAS_MORE_FIELD_NUMBER: _ClassVar[int]
    cifers: _containers.RepeatedCompositeFieldContainer[CiferResponse]
    next_cursor: str
    has_more: bool
    def __init__(self, cifers: _Optional[_Iterable[_Union[CiferResponse, _Mapping]]] = ..., next_cursor: _Optional[str] = ..., has_more: _Optional[bool] = ...) -> None: ...

class RotateKeyRequest(_message.Message):
    __slots__ = ("cifer_id", "reason", "re_encryption_window_days")
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    RE_ENCRYPTION_WINDOW_DAYS_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    reason: str
    re_encryption_window_days: int
    def __init__(self, cifer_id: _Optional[str] = ..., reason: _Optional[str] = ..., re_encryption_window_days: _Optional[int] = ...) -> None: ...

class RotateKeyResponse(_message.Message):
    __slots__ = ("cifer_id", "old_key_version", "new_key_version", "new_encapsulation_key", "rotation_initiated_at", "re_encryption_deadline")
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    OLD_KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    NEW_ENCAPSULATION_KEY_FIELD_NUMBER: _ClassVar[int]
    ROTATION_INITIATED_AT_FIELD_NUMBER: _ClassVar[int]
    RE_ENCRYPTION_DEADLINE_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    old_key_version: int
    new_key_version: int
    new_encapsulation_key: bytes
    rotation_initiated_at: _timestamp_pb2.Timestamp
    re_encryption_deadline: _timestamp_pb2.Timestamp
    def __init__(self, cifer_id: _Optional[str] = ..., old_key_version: _Optional[int] = ..., new_key_version: _Optional[int] = ..., new_encapsulation_key: _Optional[bytes] = ..., rotation_initiated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., re_encryption_deadline: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RevokeCiferRequest(_message.Message):
    __slots__ = ("cifer_id", "confirm")
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    confirm: bool
    def __init__(self, cifer_id: _Optional[str] = ..., confirm: _Optional[bool] = ...) -> None: ...

class RevokeCiferResponse(_message.Message):
    __slots__ = ("cifer_id", "status", "revoked_at", "warning")
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    WARNING_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    status: CiferStatus
    revoked_at: _timestamp_pb2.Timestamp
    warning: str
    def __init__(self, cifer_id: _Optional[str] = ..., status: _Optional[_Union[CiferStatus, str]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warning: _Optional[str] = ...) -> None: ...

class GetPublicKeyRequest(_message.Message):
    __slots__ = ("cifer_id",)
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    def __init__(self, cifer_id: _Optional[str] = ...) -> None: ...

class GetPublicKeyResponse(_message.Message):
    __slots__ = ("cifer_id", "encapsulation_key", "key_version", "algorithm", "valid_until", "expires_at")
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    ENCAPSULATION_KEY_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    VALID_UNTIL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    encapsulation_key: bytes
    key_version: int
    algorithm: Algorithm
    valid_until: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, cifer_id: _Optional[str] = ..., encapsulation_key: _Optional[bytes] = ..., key_version: _Optional[int] = ..., algorithm: _Optional[_Union[Algorithm, _Mapping]] = ..., valid_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DecryptStreamRequest(_message.Message):
    __slots__ = ("init", "chunk")
    INIT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    init: DecryptStreamInit
    chunk: bytes
    def __init__(self, init: _Optional[_Union[DecryptStreamInit, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class DecryptStreamInit(_message.Message):
    __slots__ = ("total_size",)
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    total_size: int
    def __init__(self, total_size: _Optional[int] = ...) -> None: ...

class DecryptStreamResponse(_message.Message):
    __slots__ = ("header", "chunk", "complete")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    header: DecryptStreamHeader
    chunk: bytes
    complete: DecryptStreamComplete
    def __init__(self, header: _Optional[_Union[DecryptStreamHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ..., complete: _Optional[_Union[DecryptStreamComplete, _Mapping]] = ...) -> None: ...

class DecryptStreamHeader(_message.Message):
    __slots__ = ("cifer_id", "key_version", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CIFER_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_VERSION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    cifer_id: str
    key_version: int
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, cifer_id: _Optional[str] = ..., key_version: _Optional[int] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class DecryptStreamComplete(_message.Message):
    __slots__ = ("checksum",)
    CHECKSUM_FIELD_NUMBER: _ClassVar[int]
    checksum: bytes
    def __init__(self, checksum: _Optional[bytes] = ...) -> None: ...
