// The shared cases of tests/cases/cases.json, run through the JavaScript host.

import assert from "node:assert/strict";
import { test } from "node:test";

import { HeymarketSms, InvalidMessage, SendError } from "../index.js";
import { Simulator, closedPortUrl, loadCases } from "./simulator.js";

const ALL = loadCases();
const CASES = ALL.cases.filter((c) => (c.hosts ?? ["js"]).includes("js"));

async function resolveSettings(extra, sim) {
  const placeholders = { $SIMULATOR: sim.baseUrl, $CLOSED_PORT: await closedPortUrl() };
  const settings = {};
  for (const [name, value] of Object.entries({ ...ALL.settings, ...extra })) {
    if (value !== null) settings[name] = placeholders[value] ?? value;
  }
  return settings;
}

function checkError(error, expected) {
  assert.ok(error instanceof SendError, `not a SendError: ${error}`);
  assert.equal(error.kind, expected.kind, String(error));
  if (expected.fields) {
    assert.ok(error instanceof InvalidMessage);
    assert.deepEqual(error.fieldErrors.map((e) => e.field), expected.fields);
    assert.ok(error.fieldErrors.every((e) => e.reason.length > 0));
  }
  const api = error.apiError;
  if ("status" in expected) assert.equal(api.status, expected.status);
  if ("message" in expected) assert.equal(api.message, expected.message);
  if ("request_id" in expected) assert.equal(Boolean(api.requestId), expected.request_id);
  if ("detail_contains" in expected) assert.ok(error.detail.includes(expected.detail_contains));
  if ("not_contains" in expected) {
    const shown = `${error} ${error.stack} ${JSON.stringify(api ?? {})}`;
    assert.ok(!shown.includes(expected.not_contains), shown);
  }
}

for (const c of CASES) {
  test(c.name, async () => {
    const sim = await Simulator.start(ALL.simulator);
    try {
      const client = await HeymarketSms.load({ settings: await resolveSettings(c.settings ?? {}, sim) });
      if (c.script) await sim.script(c.script);
      const call = c.call === "send" ? "sendMessage" : "previewMessage";
      const expect = c.expect;

      let result;
      if (expect.error) {
        await assert.rejects(client[call](c.message), (error) => {
          checkError(error, expect.error);
          return true;
        });
      } else {
        result = await client[call](c.message);
      }

      if (expect.ok && c.call === "preview") {
        assert.deepEqual(result, expect.ok);
      } else if (expect.ok) {
        assert.equal(result.attempts, expect.ok.attempts);
        assert.equal(typeof result.id, "bigint");
        if ("local_id" in expect.ok) assert.equal(result.localId, expect.ok.local_id);
        if ("gallery_url_present" in expect.ok) {
          assert.equal(result.galleryUrl !== undefined, expect.ok.gallery_url_present);
        }
        assert.match(result.requestId, /^sim-/);
        const stored = (await sim.messages()).at(-1);
        assert.equal(result.id, BigInt(stored.id));
        assert.equal(result.date, stored.date);
      }

      const requests = await sim.requests();
      if (expect.received_body) {
        const wanted = { local_id: result.localId, ...expect.received_body };
        for (const request of requests) assert.deepEqual(JSON.parse(request.body), wanted);
      }
      if ("requests" in expect) assert.equal(requests.length, expect.requests);
      if ("stored" in expect) assert.equal((await sim.messages()).length, expect.stored);
    } finally {
      await sim.stop();
    }
  });
}
