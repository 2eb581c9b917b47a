#!/usr/bin/env python3
"""heymarket-sms under a real Obelisk server, against the Heymarket simulator.

Starts the simulator and an Obelisk 0.38 server (loopback only, free ports, its SQLite
database in a temporary directory) with the example configuration of this directory,
drives it with the `obelisk` CLI exactly as the README shows, and checks what the
simulator received and what Obelisk stored.

Environment: HEYMARKET_OBELISK (the obelisk binary, set by scripts/tools),
HEYMARKET_SMS_WASM (the component, set by scripts/test; built when unset),
CARGO_TARGET_DIR (where cargo builds). Exits non-zero when any check fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent
REPO = EXAMPLE.parent.parent
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
SEND = "heymarket:sms/messages@0.1.0.send-message"
SEND_ONCE = "heymarket:sms-workflow/notify@0.1.0.send-once"

# Every wait is bounded: server start includes compiling the components.
START_TIMEOUT_S = 300
CLI_TIMEOUT_S = 120

# Fresh credentials for every run, so a match in the database or the logs can only come
# from this run leaking them.
API_KEY = "hm-live-" + secrets.token_hex(20)
SECRET_ID = "hm-secret-" + secrets.token_hex(6)
SECRET_KEY = "hm-signing-" + secrets.token_hex(24)


class Failure(AssertionError):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Failure(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cargo_artifact(args: list[str], target: str, cwd: Path, env: dict | None = None) -> Path:
    """Builds with cargo and returns the wasm or executable of the target named `target`."""
    out = subprocess.run(
        ["cargo", "build", "--message-format=json-render-diagnostics", *args],
        cwd=cwd, env=env, check=True, stdout=subprocess.PIPE, text=True, timeout=1800,
    ).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") != "compiler-artifact" or msg["target"]["name"] != target:
            continue
        if msg.get("executable"):
            return Path(msg["executable"])
        for f in msg.get("filenames", []):
            if f.endswith(".wasm"):
                return Path(f)
    raise Failure(f"cargo build {' '.join(args)} produced no artifact for {target}")


# ---------------------------------------------------------------------------------------
# The simulator (Heymarket's side)


class Simulator:
    def __init__(self, binary: Path, log: Path):
        self.log = open(log, "w")
        self.proc = subprocess.Popen(
            [binary, "--api-key", API_KEY, "--secret-id", SECRET_ID,
             "--secret-key", SECRET_KEY, "--rate-limit", "0"],
            stdout=subprocess.PIPE, stderr=self.log, text=True,
        )
        line = self.proc.stdout.readline().strip()
        check(line.startswith("listening on http://127.0.0.1:"), f"simulator said {line!r}")
        self.base_url = line.removeprefix("listening on ")

    def _call(self, method: str, path: str, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def reset(self):
        self._call("POST", "/_sim/reset", {})

    def script(self, faults: list):
        self._call("POST", "/_sim/script", faults)

    def messages(self) -> list:
        return self._call("GET", "/_sim/messages")

    def requests(self) -> list:
        return self._call("GET", "/_sim/requests")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()


# ---------------------------------------------------------------------------------------
# The Obelisk server and its CLI


class Obelisk:
    """One `obelisk server run` with one of the example deployments."""

    def __init__(self, binary: Path, deployment: Path, work: Path, env: dict):
        self.binary = binary
        self.work = work
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self.cli_output: list[str] = []
        self.server_log = work / "obelisk-server.log"
        server_env = {
            "PATH": os.environ["PATH"],
            "HOME": str(work / "home"),
            # The example server.toml, pointed at this run's port and directories.
            "OBELISK__API__LISTENING_ADDR": self.api_url.removeprefix("http://"),
            "OBELISK__DATABASE__SQLITE__DIRECTORY": str(work / "sqlite"),
            "OBELISK__WASM__CACHE_DIRECTORY": str(work / "wasm-cache"),
            "OBELISK__WASM__CODEGEN_CACHE__DIRECTORY": str(work / "codegen"),
            # Verbose, so that the leak check reads as much as Obelisk writes, except for
            # the one target that must stay quiet (see server.toml).
            "OBELISK__LOG__CONSOLE__LEVEL": "debug,obeli_sk_wasm_workers::http_hooks=info",
            **env,
        }
        (work / "home").mkdir(parents=True, exist_ok=True)
        self.log = open(self.server_log, "w")
        cmd = [binary, "server", "run", "--server-config", EXAMPLE / "server.toml",
               "--deployment", deployment]
        print("+", " ".join(str(c) for c in cmd), flush=True)
        self.proc = subprocess.Popen(cmd, env=server_env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=work)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            check(self.proc.poll() is None,
                  f"obelisk server exited with {self.proc.returncode}:\n{self.tail()}")
            probe = subprocess.run(
                [binary, "component", "list", "--api-url", self.api_url],
                capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
            )
            if probe.returncode == 0 and "heymarket_sms" in probe.stdout:
                self.components = probe.stdout
                break
            check(time.monotonic() < deadline, f"obelisk not ready:\n{self.tail()}")
            time.sleep(1)

    def tail(self) -> str:
        self.log.flush()
        return "\n".join(self.server_log.read_text(errors="replace").splitlines()[-40:])

    def cli(self, *args: str) -> str:
        cmd = [str(self.binary), *args, "--api-url", self.api_url]
        print("+ obelisk", " ".join(args), flush=True)
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        self.cli_output += [done.stdout, done.stderr]
        check(done.returncode == 0,
              f"obelisk {' '.join(args)} failed ({done.returncode}):\n"
              f"{done.stdout}\n{done.stderr}")
        return done.stdout

    def new_execution_id(self) -> str:
        return subprocess.run([self.binary, "generate", "execution-id"], check=True,
                              capture_output=True, text=True).stdout.strip()

    def submit(self, ffqn: str, params: list) -> str:
        """Submits an execution and returns its id."""
        execution_id = self.new_execution_id()
        self.cli("execution", "submit", "--execution-id", execution_id, ffqn,
                 json.dumps(params))
        return execution_id

    def result(self, execution_id: str):
        """Waits for the execution to finish; returns its final result as JSON."""
        return json.loads(self.cli("execution", "result", "--follow", "--json", execution_id))

    def events(self, execution_id: str) -> dict:
        return json.loads(self.cli("execution", "events", "--json", "--limit", "200",
                                   execution_id))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()

    def stored_text(self) -> dict[str, bytes]:
        """Everything Obelisk wrote: its database files, its logs, the CLI's output."""
        files = {}
        for path in sorted((self.work / "sqlite").rglob("*")):
            if path.is_file():
                files[str(path)] = path.read_bytes()
        files[str(self.server_log)] = self.server_log.read_bytes()
        files["obelisk CLI output"] = "\n".join(self.cli_output).encode()
        return files


# ---------------------------------------------------------------------------------------
# Shapes


def sms(**extra) -> dict:
    """A valid message in Obelisk's JSON form of the WIT record (snake_case fields)."""
    return {"inbox_id": 101, "creator_id": 55, "phone_number": "14155551234",
            "text": "Hello from Obelisk", **extra}


def ok_value(result: dict):
    """The value of `{"ok": value}`, Obelisk's JSON of a successful `result`."""
    check(list(result) == ["ok"], f"expected an ok result, got {json.dumps(result)}")
    return result["ok"]


def err_value(result: dict):
    """The value of `{"error": value}`, Obelisk's JSON of a failed `result`."""
    check(list(result) == ["error"], f"expected an error result, got {json.dumps(result)}")
    return result["error"]


def event_kinds(events: dict) -> list[str]:
    """The kind of every event in `obelisk execution events --json` (`{"events": [...]}`),
    e.g. `locked`, `temporarily_failed`, `finished`."""
    return [next(iter(e["event"])) for e in events["events"]]


def local_ids(requests: list) -> list:
    return [json.loads(r["body"]).get("local_id") for r in requests]


# ---------------------------------------------------------------------------------------
# The checks


def send_through_the_activity_succeeds_and_the_simulator_holds_the_message(ob, sim):
    execution_id = ob.submit(SEND, [sms(local_id="obelisk-send-1")])
    sent = ok_value(ob.result(execution_id))
    messages = sim.messages()
    check(len(messages) == 1, f"simulator holds {len(messages)} messages")
    check(sent["id"] == messages[0]["id"], f"result {sent} vs stored {messages[0]}")
    check(messages[0]["local_id"] == "obelisk-send-1", f"stored {messages[0]}")
    check(sent["local_id"] == "obelisk-send-1", f"result {sent}")
    # Obelisk put the real key into the header: the simulator knows no other.
    check(messages[0]["credential"].startswith("api-key"), f"stored {messages[0]}")
    check(sent["attempts"] == 1, f"result {sent}")


def an_invalid_message_fails_permanently_at_once_without_any_request(ob, sim):
    execution_id = ob.submit(SEND, [sms(phone_number="+14155551234")])
    error = err_value(ob.result(execution_id))
    invalid = error["permanent"]["invalid_message"]
    check([f["field"] for f in invalid] == ["phone_number"], f"error {error}")
    check(sim.requests() == [], f"simulator got {sim.requests()}")
    kinds = event_kinds(ob.events(execution_id))
    # One run, finished by it: no retry was scheduled.
    check(kinds.count("locked") == 1 and kinds.count("temporarily_failed") == 0
          and kinds[-1] == "finished", f"events {kinds}")


def a_401_fails_permanently_and_the_engine_never_retries_it(ob, sim):
    sim.script([{"respond": {"status": 401, "body": '{"error":"invalid token"}'}}])
    execution_id = ob.submit(SEND, [sms(local_id="obelisk-401")])
    started = time.monotonic()
    error = err_value(ob.result(execution_id))
    check(error["permanent"]["unauthorized"]["status"] == 401, f"error {error}")
    # Longer than the first two retry delays (0.5 s, 1 s): a retry would have happened.
    time.sleep(max(0.0, 3.0 - (time.monotonic() - started)))
    requests = sim.requests()
    check(len(requests) == 1, f"simulator saw {len(requests)} requests")
    check(sim.messages() == [], "a message was stored")
    kinds = event_kinds(ob.events(execution_id))
    # One run, finished by it: no retry was scheduled.
    check(kinds.count("locked") == 1 and kinds.count("temporarily_failed") == 0
          and kinds[-1] == "finished", f"events {kinds}")


def transient_failures_are_retried_by_the_engine_and_leave_exactly_one_message(ob, sim):
    # HEYMARKET_MAX_ATTEMPTS=1: every retry below is Obelisk's, not the component's. The
    # second failure comes after the message was stored, so only the shared local_id
    # keeps the engine's next retry from sending twice.
    sim.script([
        {"respond": {"status": 503, "body": '{"error":"maintenance"}'}},
        {"respond_after_store": {"status": 500, "body": '{"error":"oops"}'}},
        {"respond": {"status": 503, "body": '{"error":"maintenance"}'}},
    ])
    execution_id = ob.submit(SEND, [sms(local_id="obelisk-transient-1")])
    sent = ok_value(ob.result(execution_id))
    requests = sim.requests()
    check([r["status"] for r in requests] == [503, 500, 503, 200],
          f"simulator answered {[r['status'] for r in requests]}")
    check(set(local_ids(requests)) == {"obelisk-transient-1"}, f"{local_ids(requests)}")
    messages = sim.messages()
    check(len(messages) == 1, f"simulator holds {len(messages)} messages")
    check(sent["id"] == messages[0]["id"], f"result {sent} vs stored {messages[0]}")
    check(sent["attempts"] == 1, f"the component retried by itself: {sent}")
    kinds = event_kinds(ob.events(execution_id))
    check(kinds.count("locked") == 4 and kinds.count("temporarily_failed") == 3
          and kinds[-1] == "finished", f"events {kinds}")


def the_workflow_sends_once_with_a_local_id_derived_from_its_execution_id(ob, sim):
    sim.script([{"respond": {"status": 503, "body": "{}"}}])
    execution_id = ob.submit(SEND_ONCE, [sms()])
    sent = ok_value(ob.result(execution_id))
    expected = f"{execution_id}/send"
    check(sent["local_id"] == expected, f"result {sent}, expected local_id {expected}")
    requests = sim.requests()
    check([r["status"] for r in requests] == [503, 200], f"{requests}")
    check(set(local_ids(requests)) == {expected}, f"{local_ids(requests)}")
    messages = sim.messages()
    check([m["local_id"] for m in messages] == [expected], f"{messages}")


def the_workflow_keeps_a_local_id_the_caller_gave(ob, sim):
    execution_id = ob.submit(SEND_ONCE, [sms(local_id="caller-key-7")])
    sent = ok_value(ob.result(execution_id))
    check(sent["local_id"] == "caller-key-7", f"result {sent}")
    check([m["local_id"] for m in sim.messages()] == ["caller-key-7"], "stored key")


def the_jwt_variant_signs_with_the_secret_from_env_vars(ob, sim):
    execution_id = ob.submit(SEND, [sms(local_id="obelisk-jwt-1")])
    sent = ok_value(ob.result(execution_id))
    messages = sim.messages()
    check(len(messages) == 1 and messages[0]["id"] == sent["id"], f"{messages}")
    check(messages[0]["credential"] == f"jwt:{SECRET_ID}", f"stored {messages[0]}")


def nothing_obelisk_stored_or_logged_contains(ob, needles: list[str], known: str):
    stored = ob.stored_text()
    check(any(str(p).endswith(".sqlite") or "sqlite" in str(p) for p in stored),
          f"no database files found in {list(stored)}")
    # The check can fail: the same bytes do hold the parameters we sent.
    check(any(known.encode() in data for data in stored.values()),
          f"{known!r} is not in the database or logs, so the search reads nothing")
    for secret in needles:
        leaked = [p for p, data in stored.items() if secret.encode() in data]
        check(leaked == [], f"{secret[:12]}... is in {leaked}")


# ---------------------------------------------------------------------------------------


def main() -> int:
    obelisk_bin = Path(os.environ.get(
        "HEYMARKET_OBELISK",
        Path.home() / ".cache/heymarket-sms/obelisk-0.38.3/bin/obelisk"))
    check(obelisk_bin.exists(), f"no obelisk at {obelisk_bin}; source scripts/tools")

    if "HEYMARKET_SMS_WASM" in os.environ:
        component = Path(os.environ["HEYMARKET_SMS_WASM"])
    else:
        component = cargo_artifact(
            ["--release", "--target", "wasm32-wasip2", "-p", "heymarket-sms"],
            "heymarket_sms", REPO)
    simulator_bin = cargo_artifact(["-p", "heymarket-simulator"], "heymarket-simulator", REPO)
    # The workflow has its own workspace; keep its build inside the shared target dir.
    workflow_env = {**os.environ, "CARGO_TARGET_DIR": str(TARGET_DIR / "obelisk-workflow")}
    workflow = cargo_artifact(["--release"], "heymarket_sms_workflow", EXAMPLE / "workflow",
                              env=workflow_env)

    work = Path(tempfile.mkdtemp(prefix="heymarket-obelisk-"))
    # The deployments name their components relative to themselves.
    deploy = work / "deploy"
    deploy.mkdir()
    for name in ("deployment.toml", "deployment-jwt.toml"):
        shutil.copy(EXAMPLE / name, deploy / name)
    shutil.copy(component, deploy / "heymarket_sms.wasm")
    shutil.copy(workflow, deploy / "heymarket_sms_workflow.wasm")

    failures = []
    passed = 0

    def run_checks(ob, sim, checks):
        nonlocal passed
        for check_fn in checks:
            name = check_fn.__name__.replace("_", " ")
            sim.reset()
            try:
                check_fn(ob, sim)
                passed += 1
                print(f"ok    {name}", flush=True)
            except Exception:  # noqa: BLE001 - every failure is reported, then counted
                failures.append(name)
                print(f"FAIL  {name}\n{traceback.format_exc()}", flush=True)

    def run_leak_check(ob, name, needles, known):
        nonlocal passed
        try:
            nothing_obelisk_stored_or_logged_contains(ob, needles, known)
            passed += 1
            print(f"ok    {name}", flush=True)
        except Exception:  # noqa: BLE001
            failures.append(name)
            print(f"FAIL  {name}\n{traceback.format_exc()}", flush=True)

    sim = Simulator(simulator_bin, work / "simulator.log")
    try:
        common = {"HEYMARKET_BASE_URL": sim.base_url, "HEYMARKET_MAX_ATTEMPTS": "1"}

        ob = Obelisk(obelisk_bin, deploy / "deployment.toml", work / "api-key",
                     {**common, "HEYMARKET_API_KEY": API_KEY})
        try:
            run_checks(ob, sim, [
                send_through_the_activity_succeeds_and_the_simulator_holds_the_message,
                an_invalid_message_fails_permanently_at_once_without_any_request,
                a_401_fails_permanently_and_the_engine_never_retries_it,
                transient_failures_are_retried_by_the_engine_and_leave_exactly_one_message,
                the_workflow_sends_once_with_a_local_id_derived_from_its_execution_id,
                the_workflow_keeps_a_local_id_the_caller_gave,
            ])
        finally:
            ob.stop()
        run_leak_check(ob, "the api key is in no database file, log or cli output of obelisk",
                       [API_KEY], "obelisk-transient-1")

        ob = Obelisk(obelisk_bin, deploy / "deployment-jwt.toml", work / "jwt",
                     {**common, "HEYMARKET_SECRET_ID": SECRET_ID,
                      "HEYMARKET_SECRET_KEY": SECRET_KEY})
        try:
            run_checks(ob, sim, [the_jwt_variant_signs_with_the_secret_from_env_vars])
        finally:
            ob.stop()
        # A signed token starts with the base64 of `{"`, whatever its header says.
        run_leak_check(ob, "the jwt secret key and the signed tokens are in no database "
                       "file, log or cli output of obelisk",
                       [SECRET_KEY, "Bearer eyJ"], "obelisk-jwt-1")
    finally:
        sim.stop()

    print(f"\nobelisk: {passed} passed, {len(failures)} failed")
    if failures:
        print(f"work directory kept for inspection: {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
