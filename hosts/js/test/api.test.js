// The JavaScript-side surface: ids as bigint, input shapes, settings, error classes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { inspect } from "node:util";

import * as hm from "../index.js";
import { HeymarketSms, InvalidMessage } from "../index.js";
import { Simulator, loadCases } from "./simulator.js";

const SMS = { inbox_id: 101, creator_id: 55, phone_number: "14155551234", text: "Hi" };
const { simulator: SIM_CONFIG } = loadCases();

async function fieldsOf(promise) {
  let fields;
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof InvalidMessage, String(error));
    fields = error.fieldErrors.map((e) => e.field);
    return true;
  });
  return fields;
}

test("ids may be passed as numbers or bigints and come back as bigints", async () => {
  const sim = await Simulator.start(SIM_CONFIG);
  try {
    const client = await HeymarketSms.load({
      settings: { HEYMARKET_API_KEY: SIM_CONFIG.api_key, HEYMARKET_BASE_URL: sim.baseUrl },
    });
    const big = 9007199254740993n; // 2^53 + 1: not representable as a number
    const preview = await client.previewMessage({ ...SMS, chat_id: big, phone_number: undefined });
    assert.ok(preview.body.includes(`"chat_id":${big}`), preview.body);
    const sent = await client.sendMessage({ ...SMS, inbox_id: 101n, creator_id: 55 });
    assert.equal(typeof sent.id, "bigint");
    assert.equal(sent.id, BigInt((await sim.messages())[0].id));
  } finally {
    await sim.stop();
  }
});

test("ids that are unsafe numbers, negative, fractional or too large are field errors", async () => {
  const client = await HeymarketSms.load({ settings: {} });
  for (const bad of [2 ** 53, -1, 1.5, -1n, 1n << 64n, "101", true]) {
    assert.deepEqual(await fieldsOf(client.previewMessage({ ...SMS, inbox_id: bad })), ["inbox_id"]);
  }
});

test("null and undefined mean absent, and nothing else is dropped", async () => {
  const client = await HeymarketSms.load({ settings: {} });
  const preview = await client.previewMessage({ ...SMS, author: null, media_url: undefined });
  assert.deepEqual(JSON.parse(preview.body), SMS);
  assert.deepEqual(await fieldsOf(client.previewMessage({ ...SMS, Text: "x" })), ["Text"]);
});

test("a message that is not an object is a type error", async () => {
  const client = await HeymarketSms.load({ settings: {} });
  await assert.rejects(client.previewMessage([1, 2]), TypeError);
  await assert.rejects(client.previewMessage(null), TypeError);
});

test("two clients keep their own settings in one process", async () => {
  const sim = await Simulator.start(SIM_CONFIG);
  try {
    const settings = { HEYMARKET_BASE_URL: sim.baseUrl, HEYMARKET_MAX_ATTEMPTS: "1" };
    const good = await HeymarketSms.load({
      settings: { ...settings, HEYMARKET_API_KEY: SIM_CONFIG.api_key },
    });
    const bad = await HeymarketSms.load({ settings: { ...settings, HEYMARKET_API_KEY: "nope-123" } });
    for (let i = 0; i < 2; i++) {
      await good.sendMessage(SMS);
      await assert.rejects(bad.sendMessage(SMS), hm.Unauthorized);
    }
    assert.equal((await sim.messages()).length, 2);
  } finally {
    await sim.stop();
  }
});

test("settings default to this process's HEYMARKET variables only", async () => {
  process.env.HEYMARKET_MAX_ATTEMPTS = "zero";
  process.env.HEYMARKET_API_KEY = "env-key-1";
  try {
    const client = await HeymarketSms.load();
    await assert.rejects(client.sendMessage(SMS), (error) => {
      assert.ok(error instanceof hm.Configuration);
      assert.match(error.detail, /HEYMARKET_MAX_ATTEMPTS/);
      return true;
    });
  } finally {
    delete process.env.HEYMARKET_MAX_ATTEMPTS;
    delete process.env.HEYMARKET_API_KEY;
  }
});

test("settings must be HEYMARKET variables with string values", async () => {
  await assert.rejects(HeymarketSms.load({ settings: { PATH: "/bin" } }), RangeError);
  await assert.rejects(
    HeymarketSms.load({ settings: { HEYMARKET_MAX_ATTEMPTS: 2 } }),
    TypeError,
  );
  assert.throws(() => new HeymarketSms({}), TypeError);
});

test("a client never shows its credentials when printed", async () => {
  const client = await HeymarketSms.load({
    settings: { HEYMARKET_API_KEY: "key-abc-123", HEYMARKET_SECRET_KEY: "sk-xyz-789", HEYMARKET_SECRET_ID: "sid" },
  });
  const shown = `${client} ${inspect(client)} ${JSON.stringify(client)}`;
  assert.ok(!shown.includes("key-abc-123") && !shown.includes("sk-xyz-789"), shown);
  assert.match(shown, /HEYMARKET_SECRET_ID=sid/);
});

test("every error case has its class, kind and retry decision", () => {
  const expected = [
    [hm.InvalidMessage, hm.PermanentFailure, "permanent.invalid-message"],
    [hm.Configuration, hm.PermanentFailure, "permanent.configuration"],
    [hm.Unauthorized, hm.PermanentFailure, "permanent.unauthorized"],
    [hm.Forbidden, hm.PermanentFailure, "permanent.forbidden"],
    [hm.Rejected, hm.PermanentFailure, "permanent.rejected"],
    [hm.RateLimited, hm.TransientFailure, "transient.rate-limited"],
    [hm.Server, hm.TransientFailure, "transient.server"],
    [hm.Timeout, hm.TransientFailure, "transient.timeout"],
    [hm.Connection, hm.TransientFailure, "transient.connection"],
    [hm.InvalidResponse, hm.TransientFailure, "transient.invalid-response"],
    [hm.ExecutionFailed, hm.SendError, "execution-failed"],
  ];
  for (const [Class, Parent, kind] of expected) {
    assert.ok(Class.prototype instanceof Parent && Class.prototype instanceof Error, kind);
    assert.equal(Class.kind, kind);
    assert.equal(Class.retryable, Parent === hm.TransientFailure, kind);
  }
  const error = new hm.Timeout("no answer within 300 ms");
  assert.equal(error.kind, "transient.timeout");
  assert.equal(error.retryable, true);
  assert.equal(error.detail, "no answer within 300 ms");
  assert.equal(error.name, "Timeout");
});
