"""Bearer tokens for the agent's TCP listener (docs/security.md): every call on a channel wrapped
by `with_token` carries `authorization: Bearer <token>`. The token is the one given, else the
SPINDLE_TOKEN environment variable, else the file named by SPINDLE_TOKEN_FILE; none on a Unix
socket agent (its file permissions decide) or a cluster with authentication off."""

import os
from typing import Any, Callable, Optional

import grpc

#: The environment variables a token is read from when none is passed.
TOKEN_ENV = "SPINDLE_TOKEN"
TOKEN_FILE_ENV = "SPINDLE_TOKEN_FILE"


def find_token(token: Optional[str]) -> Optional[str]:
    """The token to send: `token`, else $SPINDLE_TOKEN, else the contents of $SPINDLE_TOKEN_FILE."""
    if token:
        return token
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    path = os.environ.get(TOKEN_FILE_ENV)
    if path:
        with open(path, encoding="utf-8") as file:
            return file.read().strip() or None
    return None


class _CallDetails(grpc.ClientCallDetails):  # type: ignore[misc]
    def __init__(self, details: Any, metadata: Any) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class _BearerToken(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: Any) -> Any:
        return _CallDetails(details, list(details.metadata or []) + [self._header])

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._with_token(details), requests)

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._with_token(details), requests)


def with_token(channel: grpc.Channel, token: Optional[str]) -> grpc.Channel:
    """`channel` sending `token` on every call (unchanged when there is no token)."""
    if token is None:
        return channel
    return grpc.intercept_channel(channel, _BearerToken(token))
