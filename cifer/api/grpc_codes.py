"""The seed's error codes (§9.1) as gRPC status codes (docs/grpc.md, "Errors"): one table for the
sidecar's gRPC API and the SDK's gRPC client. The code and the details also travel whole, in the
status's details (google.rpc.ErrorInfo: reason = the seed's code, domain `cifer.io`, metadata = its
details as strings; google.rpc.RetryInfo with Retry-After on RESOURCE_EXHAUSTED), so nothing the
REST answer says is lost. Names, not grpc's enum: the core does not import grpc."""

from __future__ import annotations

from cifer.api.errors import ErrorCode

DOMAIN = "cifer.io"
STATUS_OF = {
    ErrorCode.INVALID_REQUEST: "INVALID_ARGUMENT",
    ErrorCode.INVALID_CIFER_ID: "INVALID_ARGUMENT",
    ErrorCode.INVALID_CIPHERTEXT: "INVALID_ARGUMENT",
    ErrorCode.UNAUTHORIZED: "UNAUTHENTICATED",
    ErrorCode.FORBIDDEN: "PERMISSION_DENIED",
    ErrorCode.UNAUTHORIZED_DECRYPT: "PERMISSION_DENIED",
    ErrorCode.NOT_FOUND: "NOT_FOUND",
    ErrorCode.METHOD_NOT_ALLOWED: "UNIMPLEMENTED",
    ErrorCode.PAYLOAD_TOO_LARGE: "RESOURCE_EXHAUSTED",  # gRPC's own code for a message past the bound
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "INVALID_ARGUMENT",
    ErrorCode.CIFER_REVOKED: "FAILED_PRECONDITION",  # the resource's state refuses it, not the request
    ErrorCode.RATE_LIMIT_EXCEEDED: "RESOURCE_EXHAUSTED",
    ErrorCode.INTERNAL_ERROR: "INTERNAL",
    ErrorCode.SERVICE_UNAVAILABLE: "UNAVAILABLE",
}
