"""The Python-side surface: settings handling, input shapes, error classes, secrecy."""

from __future__ import annotations

import json

import pytest

import heymarket_sms as hm
from heymarket_sms import HeymarketSms, InvalidMessage

SMS = {"inbox_id": 101, "creator_id": 55, "phone_number": "14155551234", "text": "Hi"}


def fields(error: pytest.ExceptionInfo[InvalidMessage]) -> list:
    return [e.field for e in error.value.field_errors]


def test_the_client_repr_never_shows_a_credential(wasm: str) -> None:
    client = HeymarketSms(
        {"HEYMARKET_API_KEY": "key-abc-123", "HEYMARKET_SECRET_KEY": "sk-xyz-789",
         "HEYMARKET_SECRET_ID": "sid-1"},
        wasm=wasm,
    )
    shown = repr(client) + str(client)
    assert "key-abc-123" not in shown and "sk-xyz-789" not in shown
    assert "HEYMARKET_SECRET_ID=sid-1" in shown


def test_settings_accept_only_heymarket_variables_with_string_values(wasm: str) -> None:
    with pytest.raises(ValueError, match="PATH"):
        HeymarketSms({"PATH": "/bin"}, wasm=wasm)
    with pytest.raises(TypeError, match="HEYMARKET_MAX_ATTEMPTS"):
        HeymarketSms({"HEYMARKET_MAX_ATTEMPTS": 2}, wasm=wasm)  # type: ignore[dict-item]


def test_without_settings_the_processes_heymarket_variables_are_used(
    wasm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEYMARKET_API_KEY", "from-env-key")
    monkeypatch.setenv("HEYMARKET_MAX_ATTEMPTS", "not-a-number")
    monkeypatch.setenv("UNRELATED_SECRET", "never-passed")
    client = HeymarketSms(wasm=wasm)
    assert "UNRELATED_SECRET" not in repr(client)
    with pytest.raises(hm.Configuration) as raised:
        client.send_message(SMS)
    assert "HEYMARKET_MAX_ATTEMPTS" in raised.value.detail


def test_a_missing_component_path_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEYMARKET_SMS_WASM", raising=False)
    with pytest.raises(ValueError, match="HEYMARKET_SMS_WASM"):
        HeymarketSms({})


def test_a_message_that_is_not_a_mapping_is_a_type_error(wasm: str) -> None:
    with pytest.raises(TypeError, match="mapping"):
        HeymarketSms({}, wasm=wasm).preview_message([("inbox_id", 1)])  # type: ignore[arg-type]


def test_ids_outside_u64_or_of_type_bool_are_field_errors_not_coerced(wasm: str) -> None:
    client = HeymarketSms({}, wasm=wasm)
    for bad in (True, -1, 2**64, 1.0, "101"):
        with pytest.raises(InvalidMessage) as raised:
            client.preview_message({**SMS, "inbox_id": bad})
        assert fields(raised) == ["inbox_id"], bad


def test_none_means_absent_and_a_tuple_of_targets_is_a_list(wasm: str) -> None:
    client = HeymarketSms({}, wasm=wasm)
    preview = client.preview_message(
        {"inbox_id": 1, "creator_id": 2, "phone_number": None, "text": "Hi",
         "targets": ("14155550001", "14155550002"), "author": None}
    )
    assert json.loads(preview.body) == {
        "inbox_id": 1, "creator_id": 2, "text": "Hi",
        "targets": ["14155550001", "14155550002"],
    }


def test_a_preview_needs_no_credentials_but_a_send_does(wasm: str) -> None:
    client = HeymarketSms({}, wasm=wasm)
    assert client.preview_message(SMS).segments == 1
    with pytest.raises(hm.Configuration):
        client.send_message(SMS)


@pytest.mark.parametrize(
    "cls, parent, kind",
    [
        (hm.InvalidMessage, hm.PermanentFailure, "permanent.invalid-message"),
        (hm.Configuration, hm.PermanentFailure, "permanent.configuration"),
        (hm.Unauthorized, hm.PermanentFailure, "permanent.unauthorized"),
        (hm.Forbidden, hm.PermanentFailure, "permanent.forbidden"),
        (hm.Rejected, hm.PermanentFailure, "permanent.rejected"),
        (hm.RateLimited, hm.TransientFailure, "transient.rate-limited"),
        (hm.Server, hm.TransientFailure, "transient.server"),
        (hm.Timeout, hm.TransientFailure, "transient.timeout"),
        (hm.Connection, hm.TransientFailure, "transient.connection"),
        (hm.InvalidResponse, hm.TransientFailure, "transient.invalid-response"),
        (hm.ExecutionFailed, hm.SendError, "execution-failed"),
    ],
)
def test_every_error_case_has_its_class_kind_and_retry_decision(
    cls: type, parent: type, kind: str
) -> None:
    assert issubclass(cls, parent) and issubclass(cls, hm.SendError)
    assert cls.kind == kind
    assert cls.retryable == (parent is hm.TransientFailure)
