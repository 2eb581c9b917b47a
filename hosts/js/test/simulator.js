// Test support: a heymarket-simulator process per test, the shared cases, and a closed
// port. Not a test file itself (package.json lists the test files).

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

export const REPO = new URL("../../../", import.meta.url);
const STARTUP_TIMEOUT_MS = 30_000;

/**
 * The shared cases. JSON numbers beyond 2^53 lose precision in JSON.parse, so integer
 * literals of 16 digits or more are read as bigints first.
 */
export function loadCases() {
  const text = readFileSync(new URL("tests/cases/cases.json", REPO), "utf8");
  const marked = text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,\]}])/g, '$1{"$$bigint":"$2"}');
  return JSON.parse(marked, (_key, value) =>
    value && typeof value === "object" && typeof value.$bigint === "string"
      ? BigInt(value.$bigint)
      : value,
  );
}

export class Simulator {
  static async start(config) {
    const bin = process.env.HEYMARKET_SIMULATOR_BIN;
    if (!bin) throw new Error("set HEYMARKET_SIMULATOR_BIN (scripts/test.d/30-js does)");
    const args = ["--api-key", config.api_key, "--secret-id", config.secret_id];
    args.push("--secret-key", config.secret_key, "--deny-inbox", String(config.deny_inbox));
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "ignore"] });
    const lines = createInterface({ input: child.stdout });
    let timer;
    try {
      const first = await Promise.race([
        new Promise((resolve) => lines.once("line", resolve)),
        new Promise((_, reject) => child.once("exit", (code) => reject(new Error(`exited ${code}`)))),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error("no address in time")), STARTUP_TIMEOUT_MS);
        }),
      ]);
      const match = /^listening on (http:\/\/\S+)$/.exec(first);
      if (!match) throw new Error(`unexpected first line: ${first}`);
      return new Simulator(child, match[1]);
    } catch (e) {
      child.kill();
      throw new Error(`the simulator did not start: ${e.message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  constructor(child, baseUrl) {
    this.child = child;
    this.baseUrl = baseUrl;
  }

  async #http(method, path, body) {
    const response = await fetch(this.baseUrl + path, {
      method,
      body,
      signal: AbortSignal.timeout(10_000),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status}`);
    return response.json();
  }

  /** Recorded requests to the vendor endpoint. */
  async requests() {
    return (await this.#http("GET", "/_sim/requests")).filter((r) => r.path === "/v1/message/send");
  }

  async messages() {
    return this.#http("GET", "/_sim/messages");
  }

  async script(faults) {
    const answer = await this.#http("POST", "/_sim/script", JSON.stringify(faults));
    if (answer.queued !== faults.length) throw new Error(`queued ${answer.queued}`);
  }

  async stop() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill();
    await exited;
  }
}

/** The URL of a loopback port that was free a moment ago and has no listener. */
export async function closedPortUrl() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}
