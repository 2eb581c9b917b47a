"""Fixtures: the component and the simulator binary (built with cargo when the suite
script did not provide them), and a simulator process per test."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[3]
CASES_FILE = REPO / "tests" / "cases" / "cases.json"
STARTUP_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 10


def _target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


@pytest.fixture(scope="session")
def wasm() -> str:
    path = os.environ.get("HEYMARKET_SMS_WASM")
    if path:
        return path
    subprocess.run(
        ["cargo", "build", "--release", "--target", "wasm32-wasip2", "-p", "heymarket-sms"],
        cwd=REPO,
        check=True,
    )
    return str(_target_dir() / "wasm32-wasip2" / "release" / "heymarket_sms.wasm")


@pytest.fixture(scope="session")
def simulator_bin() -> str:
    path = os.environ.get("HEYMARKET_SIMULATOR_BIN")
    if path:
        return path
    subprocess.run(["cargo", "build", "-p", "heymarket-simulator"], cwd=REPO, check=True)
    return str(_target_dir() / "debug" / "heymarket-simulator")


@pytest.fixture(scope="session")
def cases() -> Dict[str, Any]:
    return json.loads(CASES_FILE.read_text(encoding="utf-8"))


class Simulator:
    """A heymarket-simulator process on a free loopback port, inspected and scripted
    through its /_sim control paths."""

    def __init__(self, binary: str, config: Dict[str, Any]) -> None:
        args = [binary, "--api-key", config["api_key"]]
        args += ["--secret-id", config["secret_id"], "--secret-key", config["secret_key"]]
        args += ["--deny-inbox", str(config["deny_inbox"])]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        first_line: List[str] = []
        reader = threading.Thread(
            target=lambda: first_line.append(self.process.stdout.readline()),  # type: ignore[union-attr]
            daemon=True,
        )
        reader.start()
        reader.join(STARTUP_TIMEOUT_S)
        line = first_line[0].strip() if first_line else ""
        if not line.startswith("listening on http://"):
            self.stop()
            raise RuntimeError(f"the simulator did not start: {line!r}")
        self.base_url = line.removeprefix("listening on ")

    def _http(self, method: str, path: str, body: Optional[bytes] = None) -> Any:
        request = urllib.request.Request(self.base_url + path, data=body, method=method)
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return json.loads(response.read())

    def requests(self) -> List[Dict[str, Any]]:
        """Recorded requests to the vendor endpoint (control paths are not recorded)."""
        return [r for r in self._http("GET", "/_sim/requests") if r["path"] == "/v1/message/send"]

    def messages(self) -> List[Dict[str, Any]]:
        return self._http("GET", "/_sim/messages")  # type: ignore[no-any-return]

    def script(self, faults: List[Any]) -> None:
        queued = self._http("POST", "/_sim/script", json.dumps(faults).encode())
        assert queued == {"queued": len(faults)}

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture
def simulator(simulator_bin: str, cases: Dict[str, Any]) -> Iterator[Simulator]:
    # One process per test: a case's late work (a delayed answer that still stores a
    # message) can never leak into the next case.
    sim = Simulator(simulator_bin, cases["simulator"])
    try:
        yield sim
    finally:
        sim.stop()


def closed_port_url() -> str:
    """The URL of a loopback port that was free a moment ago and has no listener."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
