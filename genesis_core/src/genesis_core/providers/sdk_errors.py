"""Classifying the exceptions of the official SDKs as `ProviderError`s.

The `openai` and `anthropic` SDKs share one exception hierarchy
(APITimeoutError < APIConnectionError, APIStatusError with the HTTP answer,
APIResponseValidationError), so one translation serves both; the SDK module
is passed in, so neither is imported here.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from genesis_core.llm import ProviderError


def translate(exc: Exception, sdk: ModuleType) -> Exception:
    """`exc` as a classified `ProviderError`; an exception that is not the service's, unchanged."""
    if isinstance(exc, sdk.APITimeoutError):
        return ProviderError("timeout", "the request timed out")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({type(cause).__name__}: {cause})" if cause is not None else ""
        return ProviderError("connection", f"connection failed{detail}")
    if isinstance(exc, sdk.APIStatusError):
        return ProviderError.from_http(exc.status_code, _message(exc), exc.response.headers)
    if isinstance(exc, sdk.APIResponseValidationError):
        return ProviderError("bad_response", f"the answer does not have the expected shape: {exc}")
    if isinstance(exc, ValueError):  # the body was not JSON
        return ProviderError("bad_response", f"the answer is not valid JSON: {type(exc).__name__}: {exc}")
    if _is_transport_error(exc):
        return ProviderError("connection", f"the connection broke: {type(exc).__name__}: {exc}")
    return exc


def _message(exc: Any) -> str:
    """The service's own error message, from the JSON error body when there is one."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", exc))


def _is_transport_error(exc: Exception) -> bool:
    """An httpx (or httpx2) transport error raised while reading a body, outside the SDK's wrapping."""
    return any(cls.__name__ in ("TransportError", "StreamError") and cls.__module__.startswith("httpx") for cls in type(exc).__mro__)
