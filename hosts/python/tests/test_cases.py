"""The shared cases of tests/cases/cases.json, run through the Python host."""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

import pytest

from conftest import CASES_FILE, Simulator, closed_port_url
from heymarket_sms import HeymarketSms, InvalidMessage, SendError

ALL = json.loads(CASES_FILE.read_text(encoding="utf-8"))
CASES = [c for c in ALL["cases"] if "python" in c.get("hosts", ["python"])]


def resolve_settings(base: Dict[str, Any], extra: Dict[str, Any], sim: Simulator) -> Dict[str, str]:
    merged = {**base, **extra}
    placeholders = {"$SIMULATOR": sim.base_url, "$CLOSED_PORT": closed_port_url()}
    return {k: placeholders.get(v, v) for k, v in merged.items() if v is not None}


def check_error(error: SendError, expected: Dict[str, Any]) -> None:
    assert error.kind == expected["kind"], repr(error)
    if "fields" in expected:
        assert isinstance(error, InvalidMessage)
        assert [e.field for e in error.field_errors] == expected["fields"]
        assert all(e.reason for e in error.field_errors)
    api = getattr(error, "api_error", None)
    if "status" in expected:
        assert api is not None and api.status == expected["status"]
    if "request_id" in expected:
        assert api is not None and bool(api.request_id) == expected["request_id"]
    if "message" in expected:
        assert api is not None and api.message == expected["message"]
    if "detail_contains" in expected:
        assert expected["detail_contains"] in getattr(error, "detail")
    if "not_contains" in expected:
        assert expected["not_contains"] not in str(error) + repr(error) + repr(api)


@pytest.mark.parametrize("case", CASES, ids=[c["name"].replace(" ", "_") for c in CASES])
def test_shared_case(case: Dict[str, Any], simulator: Simulator, wasm: str) -> None:
    client = HeymarketSms(
        resolve_settings(ALL["settings"], case.get("settings", {}), simulator), wasm=wasm
    )
    if case.get("script"):
        simulator.script(case["script"])
    call = client.send_message if case["call"] == "send" else client.preview_message
    expect = case["expect"]

    result: Optional[Any] = None
    if "error" in expect:
        with pytest.raises(SendError) as raised:
            call(case["message"])
        check_error(raised.value, expect["error"])
    else:
        result = call(case["message"])

    if "ok" in expect and case["call"] == "preview":
        ok = expect["ok"]
        assert result.body == ok["body"]
        assert result.encoding.value == ok["encoding"]
        assert (result.characters, result.segments) == (ok["characters"], ok["segments"])
    elif "ok" in expect:
        ok = expect["ok"]
        assert result.attempts == ok["attempts"]
        if "local_id" in ok:
            assert result.local_id == ok["local_id"]
        if "gallery_url_present" in ok:
            assert (result.gallery_url is not None) == ok["gallery_url_present"]
        assert result.request_id and result.request_id.startswith("sim-")
        stored = simulator.messages()
        assert result.id == stored[-1]["id"] and result.date == stored[-1]["date"]

    requests = simulator.requests()
    if "received_body" in expect:
        wanted = {"local_id": result.local_id, **expect["received_body"]}
        for request in requests:
            assert json.loads(request["body"]) == wanted
    if "requests" in expect:
        assert len(requests) == expect["requests"]
    if "stored" in expect:
        assert len(simulator.messages()) == expect["stored"]
