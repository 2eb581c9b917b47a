"""Send SMS and MMS through Heymarket by running the ``heymarket-sms`` WebAssembly
component in wasmtime.

The component does the work (validation, rendering, authentication, retries, the HTTP
call through ``wasi:http``); this package only loads it, hands it its settings as WASI
environment variables, and turns its WIT values into Python ones::

    from heymarket_sms import HeymarketSms, TransientFailure

    sms = HeymarketSms({"HEYMARKET_API_KEY": "..."}, wasm="heymarket_sms.wasm")
    sent = sms.send_message({"inbox_id": 101, "creator_id": 55,
                             "phone_number": "14155551234", "text": "Hi"})
    print(sent.id, sent.local_id)

Settings (credentials included) live only in the client and in the WASI environment of
each call; they are never part of a message, so nothing that persists call arguments
persists a secret.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import wasmtime
import wasmtime.component as wc

__all__ = [
    "HeymarketSms",
    "SentMessage",
    "MessagePreview",
    "Encoding",
    "FieldError",
    "ApiError",
    "SendError",
    "PermanentFailure",
    "TransientFailure",
    "InvalidMessage",
    "Configuration",
    "Unauthorized",
    "Forbidden",
    "Rejected",
    "RateLimited",
    "Server",
    "Timeout",
    "Connection",
    "InvalidResponse",
    "ExecutionFailed",
    "MESSAGE_FIELDS",
]

#: The exported interface this package calls. Other exports of the component (such as
#: ``wasi:http/incoming-handler``) are ignored.
INTERFACE = "heymarket:sms/messages@0.1.0"

#: Largest value a WIT ``u64`` can hold; the component applies the vendor's own,
#: smaller, limit and reports it as a field error.
_U64_MAX = 2**64 - 1

#: Memory one call's instance may grow to; the component needs a few MiB.
_MEMORY_LIMIT_BYTES = 64 * 1024 * 1024

#: Settings whose values are credentials, hidden in ``repr``.
_SECRET_SETTINGS = frozenset({"HEYMARKET_API_KEY", "HEYMARKET_SECRET_KEY"})

#: The fields of the endpoint's body, in the component's order: (wire name, type).
#: ``inbox_id`` and ``creator_id`` are required; every other field may be left out or be
#: ``None``, which both mean "absent".
MESSAGE_FIELDS: Tuple[Tuple[str, str], ...] = (
    ("inbox_id", "u64"),
    ("creator_id", "u64"),
    ("phone_number", "string"),
    ("targets", "list<string>"),
    ("chat_id", "u64"),
    ("list_id", "u64"),
    ("text", "string"),
    ("media_url", "string"),
    ("template_id", "u64"),
    ("local_id", "string"),
    ("activity_id", "string"),
    ("private", "bool"),
    ("author", "string"),
    ("survey_id", "u64"),
)
_REQUIRED = frozenset({"inbox_id", "creator_id"})
_FIELD_TYPES = dict(MESSAGE_FIELDS)


@dataclass(frozen=True)
class FieldError:
    """One broken rule of a message."""

    #: The field's wire name, e.g. ``phone_number``; ``targets[2]`` for a list element;
    #: ``message`` for a rule across fields.
    field: str
    #: What rule was broken and how to fix it.
    reason: str


@dataclass(frozen=True)
class ApiError:
    """An answer from Heymarket that was not a success."""

    status: int
    #: Heymarket's message when it gave one, else a description of the status.
    message: str
    #: Heymarket's ``X-Request-Id``; quote it to Heymarket's support.
    request_id: Optional[str]
    #: The raw response body, cut to at most 4096 bytes.
    body: str


@dataclass(frozen=True)
class SentMessage:
    """A message Heymarket accepted."""

    id: int
    #: When the message was sent, ISO 8601, as Heymarket reported it.
    date: str
    #: The URL of the attached media, for an MMS.
    gallery_url: Optional[str]
    #: The idempotency key actually used: the caller's, or the one the component made.
    local_id: str
    #: Heymarket's ``X-Request-Id`` of the successful response.
    request_id: Optional[str]
    #: How many HTTP requests the call made, 1 when the first succeeded.
    attempts: int


class Encoding(str, Enum):
    """How the text is encoded on the air, which sets the segment size."""

    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class MessagePreview:
    """What ``send_message`` would post, computed without any network call."""

    #: The exact JSON body that would be posted (``send_message`` adds a generated
    #: ``local_id`` when the message has none).
    body: str
    encoding: Encoding
    #: Length of ``text`` in the encoding's units.
    characters: int
    #: SMS segments ``text`` takes; 0 without text.
    segments: int


class SendError(Exception):
    """Why a call failed: one subclass per case of the WIT ``send-error``.

    ``kind`` names the case as ``permanent.<case>`` or ``transient.<case>``; ``retryable``
    says whether the same call (same ``local_id``) may succeed later.
    """

    kind: ClassVar[str] = "send-error"
    retryable: ClassVar[bool] = False

    def __init__(self, description: str) -> None:
        super().__init__(f"{self.kind}: {description}")


class PermanentFailure(SendError):
    """Retrying the same call cannot help: fix the message or the settings first."""

    retryable = False


class TransientFailure(SendError):
    """The same call may succeed later; retrying with the same ``local_id`` is safe."""

    retryable = True


class InvalidMessage(PermanentFailure):
    """The message breaks the endpoint's rules (or is not a well-formed body); nothing
    was sent. Every broken rule is listed."""

    kind = "permanent.invalid-message"

    def __init__(self, field_errors: Sequence[FieldError]) -> None:
        self.field_errors: Tuple[FieldError, ...] = tuple(field_errors)
        super().__init__("; ".join(f"{e.field}: {e.reason}" for e in self.field_errors))


class _Described:
    """A case whose payload is a text (it never contains a secret)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)  # type: ignore[call-arg]


class _WithApiError:
    """A case whose payload is Heymarket's answer."""

    def __init__(self, api_error: ApiError) -> None:
        self.api_error = api_error
        text = f"{api_error.status} {api_error.message}"
        if api_error.request_id:
            text += f" (request id {api_error.request_id})"
        super().__init__(text)  # type: ignore[call-arg]


class Configuration(_Described, PermanentFailure):
    """A setting is missing or unusable; ``detail`` names the variable. Nothing was sent."""

    kind = "permanent.configuration"


class Unauthorized(_WithApiError, PermanentFailure):
    """Heymarket answered 401: credentials missing, wrong or expired."""

    kind = "permanent.unauthorized"


class Forbidden(_WithApiError, PermanentFailure):
    """Heymarket answered 403: no access to the inbox or the action."""

    kind = "permanent.forbidden"


class Rejected(_WithApiError, PermanentFailure):
    """Heymarket answered another 4xx, such as 400, 404 or 422."""

    kind = "permanent.rejected"


class RateLimited(_WithApiError, TransientFailure):
    """Heymarket answered 429 on the last attempt."""

    kind = "transient.rate-limited"


class Server(_WithApiError, TransientFailure):
    """Heymarket answered 5xx on the last attempt."""

    kind = "transient.server"


class Timeout(_Described, TransientFailure):
    """No answer in time."""

    kind = "transient.timeout"


class Connection(_Described, TransientFailure):
    """The connection failed: refused, reset, or closed before an answer."""

    kind = "transient.connection"


class InvalidResponse(_WithApiError, TransientFailure):
    """A 2xx answer that is not the documented shape."""

    kind = "transient.invalid-response"


class ExecutionFailed(_Described, SendError):
    """The runtime failed to run the component (a trap, or the component could not be
    instantiated). The component never returns this case itself; ``detail`` is
    wasmtime's description."""

    kind = "execution-failed"
    retryable = False


_PERMANENT = {
    "configuration": Configuration,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "rejected": Rejected,
}
_TRANSIENT = {
    "rate-limited": RateLimited,
    "server": Server,
    "timeout": Timeout,
    "connection": Connection,
    "invalid-response": InvalidResponse,
}


class _Loaded:
    """A compiled component and what every call needs, shared by clients of one file."""

    def __init__(self, path: str) -> None:
        self.engine = wasmtime.Engine()
        self.component = wc.Component.from_file(self.engine, path)
        self.linker = wc.Linker(self.engine)
        self.linker.add_wasip2()
        self.linker.add_wasi_http()
        interface = self.component.get_export_index(INTERFACE)
        if interface is None:
            raise ValueError(f"{path} does not export {INTERFACE}")
        send = self.component.get_export_index("send-message", interface)
        preview = self.component.get_export_index("preview-message", interface)
        if send is None or preview is None:
            raise ValueError(f"{path}: {INTERFACE} lacks send-message or preview-message")
        self.functions = {"send-message": send, "preview-message": preview}


_LOADED: Dict[Tuple[str, int, int], _Loaded] = {}
_LOADED_LOCK = threading.Lock()


def _load(path: str) -> _Loaded:
    # Compiling takes most of a second; clients of the same unchanged file share it.
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
    with _LOADED_LOCK:
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = _LOADED[key] = _Loaded(path)
        return loaded


def _settings_from(settings: Optional[Mapping[str, str]]) -> Tuple[Tuple[str, str], ...]:
    if settings is None:
        settings = {k: v for k, v in os.environ.items() if k.startswith("HEYMARKET_")}
    pairs = []
    for name, value in settings.items():
        if not isinstance(name, str) or not name.startswith("HEYMARKET_"):
            raise ValueError(f"setting {name!r}: only HEYMARKET_* variables are passed")
        if not isinstance(value, str):
            raise TypeError(f"setting {name}: expected a string, got {type(value).__name__}")
        pairs.append((name, value))
    return tuple(sorted(pairs))


class HeymarketSms:
    """A client: the component plus the settings every call runs with.

    ``settings`` maps ``HEYMARKET_*`` environment variable names to values (see the
    README's configuration section); when ``None``, the ``HEYMARKET_*`` variables of this
    process are used. ``wasm`` is the path of ``heymarket_sms.wasm``, by default
    ``$HEYMARKET_SMS_WASM``.

    Each call runs in a fresh instance of the component, so calls share no state and a
    client may be used from several threads.
    """

    def __init__(
        self,
        settings: Optional[Mapping[str, str]] = None,
        *,
        wasm: Union[str, "os.PathLike[str]", None] = None,
    ) -> None:
        path = os.fspath(wasm) if wasm is not None else os.environ.get("HEYMARKET_SMS_WASM")
        if not path:
            raise ValueError(
                "no component: pass wasm= or set HEYMARKET_SMS_WASM to the path of "
                "heymarket_sms.wasm (cargo build --release --target wasm32-wasip2)"
            )
        self._env = _settings_from(settings)
        self._wasm = path
        self._loaded = _load(path)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{k}=[redacted]" if k in _SECRET_SETTINGS else f"{k}={v}" for k, v in self._env
        )
        return f"HeymarketSms(wasm={self._wasm!r}, settings={{{shown}}})"

    def send_message(self, message: Mapping[str, Any]) -> SentMessage:
        """Validates ``message`` (the endpoint's snake_case body) and posts it, retrying
        as configured. Raises a :class:`SendError` subclass on failure."""
        record = _call(self._loaded, self._env, "send-message", message)
        return SentMessage(
            id=getattr(record, "id"),
            date=getattr(record, "date"),
            gallery_url=getattr(record, "gallery-url"),
            local_id=getattr(record, "local-id"),
            request_id=getattr(record, "request-id"),
            attempts=getattr(record, "attempts"),
        )

    def preview_message(self, message: Mapping[str, Any]) -> MessagePreview:
        """Validates and renders ``message`` as ``send_message`` would, without any
        network call and without needing credentials."""
        record = _call(self._loaded, self._env, "preview-message", message)
        return MessagePreview(
            body=getattr(record, "body"),
            encoding=Encoding(getattr(record, "encoding")),
            characters=getattr(record, "characters"),
            segments=getattr(record, "segments"),
        )


def _to_record(message: Mapping[str, Any]) -> wc.Record:
    """The WIT ``message`` record for a snake_case body, or :class:`InvalidMessage` for
    every key or value the record cannot carry; nothing is dropped or coerced."""
    if not isinstance(message, Mapping):
        raise TypeError(f"message: expected a mapping, got {type(message).__name__}")
    errors: List[FieldError] = []
    for key in message:
        if key not in _FIELD_TYPES:
            errors.append(FieldError(str(key), "unknown field: the endpoint has no such field"))
    record = wc.Record()
    for name, kind in MESSAGE_FIELDS:
        value = message.get(name)
        if value is None:
            if name in _REQUIRED:
                errors.append(FieldError(name, f"required: give a {kind}"))
            setattr(record, name.replace("_", "-"), None)
            continue
        errors.extend(_check(name, kind, value))
        if kind == "list<string>":
            value = list(value)
        setattr(record, name.replace("_", "-"), value)
    if errors:
        raise InvalidMessage(errors)
    return record


def _check(name: str, kind: str, value: Any) -> List[FieldError]:
    got = type(value).__name__
    if kind == "u64":
        # bool is an int in Python; an id of True is surely a mistake.
        if isinstance(value, bool) or not isinstance(value, int):
            return [FieldError(name, f"expected an unsigned integer id, got {got}")]
        if not 0 <= value <= _U64_MAX:
            return [FieldError(name, "out of range: ids are unsigned 64-bit integers")]
    elif kind == "string":
        if not isinstance(value, str):
            return [FieldError(name, f"expected a string, got {got}")]
    elif kind == "bool":
        if not isinstance(value, bool):
            return [FieldError(name, f"expected true or false, got {got}")]
    elif kind == "list<string>":
        if not isinstance(value, (list, tuple)):
            return [FieldError(name, f"expected a list of strings, got {got}")]
        return [
            FieldError(f"{name}[{i}]", f"expected a string, got {type(item).__name__}")
            for i, item in enumerate(value)
            if not isinstance(item, str)
        ]
    return []


def _call(loaded: _Loaded, env: Tuple[Tuple[str, str], ...], function: str, message: Any) -> Any:
    record = _to_record(message)
    store = wasmtime.Store(loaded.engine)
    store.set_limits(memory_size=_MEMORY_LIMIT_BYTES)
    wasi = wasmtime.WasiConfig()
    wasi.env = list(env)
    store.set_wasi(wasi)
    store.set_wasi_http()
    try:
        instance = loaded.linker.instantiate(store, loaded.component)
        func = instance.get_func(store, loaded.functions[function])
        if func is None:
            raise ExecutionFailed(f"the instance lacks {INTERFACE}#{function}")
        result = func(store, record)
        func.post_return(store)
    except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
        raise ExecutionFailed(str(e)) from e
    # `result<record, send-error>` comes back untagged: the ok record as a Record, the
    # error as a Variant.
    if isinstance(result, wc.Variant):
        raise _error(result)
    return result


def _error(error: wc.Variant) -> SendError:
    if error.tag == "execution-failed":
        return ExecutionFailed("the component reported execution-failed")
    case: wc.Variant = error.payload
    if error.tag == "permanent" and case.tag == "invalid-message":
        return InvalidMessage([FieldError(e.field, e.reason) for e in case.payload])
    classes: Mapping[str, Any] = _PERMANENT if error.tag == "permanent" else _TRANSIENT
    cls = classes[case.tag]
    if isinstance(case.payload, str):
        return cls(case.payload)  # type: ignore[no-any-return]
    api = case.payload
    return cls(  # type: ignore[no-any-return]
        ApiError(
            status=api.status,
            message=api.message,
            request_id=getattr(api, "request-id"),
            body=api.body,
        )
    )
