// Send SMS and MMS through Heymarket from Node.js by running the heymarket-sms
// WebAssembly component, transpiled by `jco transpile` into ./generated.
//
// The component does the work (validation, rendering, authentication, retries, the HTTP
// call through wasi:http); this wrapper loads it with its settings as WASI environment
// variables, maps the endpoint's snake_case body to the component's record, and turns
// `send-error` into Error subclasses.

import { readFile } from "node:fs/promises";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";
import { instantiate } from "./generated/heymarket_sms.js";

/** The exported interface this wrapper calls; other exports are ignored. */
export const INTERFACE = "heymarket:sms/messages@0.1.0";

const U64_MAX = (1n << 64n) - 1n;
const SECRET_SETTINGS = new Set(["HEYMARKET_API_KEY", "HEYMARKET_SECRET_KEY"]);
const GENERATED = new URL("./generated/", import.meta.url);

/**
 * The fields of the endpoint's body in the component's order: wire name, record name,
 * type. `inbox_id` and `creator_id` are required; any other field may be left out, or
 * be `undefined` or `null`, which all mean "absent".
 */
export const MESSAGE_FIELDS = Object.freeze([
  ["inbox_id", "inboxId", "u64"],
  ["creator_id", "creatorId", "u64"],
  ["phone_number", "phoneNumber", "string"],
  ["targets", "targets", "list<string>"],
  ["chat_id", "chatId", "u64"],
  ["list_id", "listId", "u64"],
  ["text", "text", "string"],
  ["media_url", "mediaUrl", "string"],
  ["template_id", "templateId", "u64"],
  ["local_id", "localId", "string"],
  ["activity_id", "activityId", "string"],
  ["private", "private", "bool"],
  ["author", "author", "string"],
  ["survey_id", "surveyId", "u64"],
]);
const REQUIRED = new Set(["inbox_id", "creator_id"]);
const BY_WIRE_NAME = new Map(MESSAGE_FIELDS.map((f) => [f[0], f]));

/** Why a call failed; one subclass per case of the WIT `send-error`. */
export class SendError extends Error {
  /** e.g. `permanent.invalid-message`, `transient.timeout`, `execution-failed`. */
  get kind() {
    return this.constructor.kind;
  }
  /** Whether the same call (same `local_id`) may succeed later. */
  get retryable() {
    return this.constructor.retryable;
  }
  constructor(description, options) {
    super(`${new.target.kind}: ${description}`, options);
    this.name = new.target.name;
  }
}
SendError.kind = "send-error";
SendError.retryable = false;

/** Retrying the same call cannot help: fix the message or the settings first. */
export class PermanentFailure extends SendError {}
PermanentFailure.retryable = false;

/** The same call may succeed later; retrying with the same `local_id` is safe. */
export class TransientFailure extends SendError {}
TransientFailure.retryable = true;

/**
 * The message breaks the endpoint's rules or is not a well-formed body; nothing was
 * sent. `fieldErrors` lists every broken rule as `{ field, reason }`.
 */
export class InvalidMessage extends PermanentFailure {
  constructor(fieldErrors) {
    super(fieldErrors.map((e) => `${e.field}: ${e.reason}`).join("; "));
    this.fieldErrors = fieldErrors;
  }
}
InvalidMessage.kind = "permanent.invalid-message";

function described(Base, kind) {
  // Cases whose payload is a text, kept as `detail`; it never contains a secret.
  const Class = class extends Base {
    constructor(detail, options) {
      super(detail, options);
      this.detail = detail;
    }
  };
  Class.kind = kind;
  return Class;
}

function withApiError(Base, kind) {
  // Cases whose payload is Heymarket's answer, kept as `apiError`.
  const Class = class extends Base {
    constructor(apiError) {
      const id = apiError.requestId ? ` (request id ${apiError.requestId})` : "";
      super(`${apiError.status} ${apiError.message}${id}`);
      this.apiError = apiError;
    }
  };
  Class.kind = kind;
  return Class;
}

/** A setting is missing or unusable; `detail` names the variable. Nothing was sent. */
export class Configuration extends described(PermanentFailure, "permanent.configuration") {}
/** Heymarket answered 401. */
export class Unauthorized extends withApiError(PermanentFailure, "permanent.unauthorized") {}
/** Heymarket answered 403. */
export class Forbidden extends withApiError(PermanentFailure, "permanent.forbidden") {}
/** Heymarket answered another 4xx. */
export class Rejected extends withApiError(PermanentFailure, "permanent.rejected") {}
/** Heymarket answered 429 on the last attempt. */
export class RateLimited extends withApiError(TransientFailure, "transient.rate-limited") {}
/** Heymarket answered 5xx on the last attempt. */
export class Server extends withApiError(TransientFailure, "transient.server") {}
/** No answer in time. */
export class Timeout extends described(TransientFailure, "transient.timeout") {}
/** The connection failed: refused, reset, or closed before an answer. */
export class Connection extends described(TransientFailure, "transient.connection") {}
/** A 2xx answer that is not the documented shape. */
export class InvalidResponse extends withApiError(
  TransientFailure,
  "transient.invalid-response",
) {}
/**
 * The runtime failed to run the component (a trap); the component never returns this
 * case itself. `detail` is the runtime's description.
 */
export class ExecutionFailed extends described(SendError, "execution-failed") {}

const PERMANENT = { configuration: Configuration, unauthorized: Unauthorized, forbidden: Forbidden, rejected: Rejected };
const TRANSIENT = {
  "rate-limited": RateLimited,
  server: Server,
  timeout: Timeout,
  connection: Connection,
  "invalid-response": InvalidResponse,
};

// Compiling the core modules is the slow part; every client shares the result.
const compiled = new Map();
function compileCore(path) {
  if (!compiled.has(path)) {
    compiled.set(
      path,
      readFile(new URL(path, GENERATED)).then((bytes) => WebAssembly.compile(bytes)),
    );
  }
  return compiled.get(path);
}

function settingsFrom(settings) {
  const source =
    settings ??
    Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("HEYMARKET_")));
  const env = {};
  for (const [name, value] of Object.entries(source)) {
    if (!name.startsWith("HEYMARKET_")) {
      throw new RangeError(`setting ${name}: only HEYMARKET_* variables are passed`);
    }
    if (typeof value !== "string") {
      throw new TypeError(`setting ${name}: expected a string, got ${typeof value}`);
    }
    env[name] = value;
  }
  return env;
}

/**
 * A client: the component plus the settings every call runs with. Create it with
 * `await HeymarketSms.load({ settings })`.
 */
export class HeymarketSms {
  #env;
  #instance = null;

  /**
   * `settings` maps `HEYMARKET_*` variable names to string values; when left out, the
   * `HEYMARKET_*` variables of this process are used. Only these reach the component:
   * no other variable, no file system.
   */
  static async load({ settings } = {}) {
    const client = new HeymarketSms(settingsFrom(settings), LOAD_TOKEN);
    await client.#instantiate();
    return client;
  }

  constructor(env, token) {
    if (token !== LOAD_TOKEN) throw new TypeError("use `await HeymarketSms.load(...)`");
    this.#env = env;
  }

  async #instantiate() {
    // Each client has its own shim, so its settings are its own.
    const shim = new WASIShim({ sandbox: { env: this.#env, preopens: {}, args: [] } });
    const root = await instantiate(compileCore, shim.getImportObject());
    const exported = root[INTERFACE];
    if (!exported) throw new Error(`the component does not export ${INTERFACE}`);
    this.#instance = exported;
  }

  /**
   * Validates `message` (the endpoint's snake_case body) and posts it, retrying as
   * configured. Resolves to `{ id: bigint, date, galleryUrl?, localId, requestId?,
   * attempts }`; rejects with a `SendError` subclass.
   */
  async sendMessage(message) {
    return this.#call("sendMessage", message);
  }

  /**
   * Validates and renders `message` as `sendMessage` would, without any network call
   * and without needing credentials. Resolves to `{ body, encoding, characters,
   * segments }`.
   */
  async previewMessage(message) {
    return this.#call("previewMessage", message);
  }

  async #call(method, message) {
    const record = toRecord(message);
    if (!this.#instance) await this.#instantiate();
    try {
      return this.#instance[method](record);
    } catch (e) {
      if (e && e.payload && typeof e.payload.tag === "string") throw fromPayload(e.payload);
      // A trap leaves the instance unusable; the next call gets a fresh one.
      this.#instance = null;
      throw new ExecutionFailed(String(e && e.message ? e.message : e), { cause: e });
    }
  }

  toString() {
    const shown = Object.entries(this.#env)
      .map(([k, v]) => `${k}=${SECRET_SETTINGS.has(k) ? "[redacted]" : v}`)
      .join(", ");
    return `HeymarketSms { ${shown} }`;
  }

  [Symbol.for("nodejs.util.inspect.custom")]() {
    return this.toString();
  }
}
const LOAD_TOKEN = Symbol("load");

function typeOf(value) {
  return value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
}

function checkValue(name, kind, value) {
  if (kind === "u64") {
    if (typeof value === "number") {
      if (!Number.isSafeInteger(value)) {
        return [{ field: name, reason: "expected an integer id; pass a bigint above 2^53 - 1" }];
      }
      value = BigInt(value);
    }
    if (typeof value !== "bigint") {
      return [{ field: name, reason: `expected an unsigned integer id, got ${typeOf(value)}` }];
    }
    if (value < 0n || value > U64_MAX) {
      return [{ field: name, reason: "out of range: ids are unsigned 64-bit integers" }];
    }
    return [];
  }
  if (kind === "string" && typeof value !== "string") {
    return [{ field: name, reason: `expected a string, got ${typeOf(value)}` }];
  }
  if (kind === "bool" && typeof value !== "boolean") {
    return [{ field: name, reason: `expected true or false, got ${typeOf(value)}` }];
  }
  if (kind === "list<string>") {
    if (!Array.isArray(value)) {
      return [{ field: name, reason: `expected an array of strings, got ${typeOf(value)}` }];
    }
    return value.flatMap((item, i) =>
      typeof item === "string"
        ? []
        : [{ field: `${name}[${i}]`, reason: `expected a string, got ${typeOf(item)}` }],
    );
  }
  return [];
}

/**
 * The component's camelCase record for a snake_case body, or `InvalidMessage` listing
 * every key or value the record cannot carry: nothing is dropped or coerced, except that
 * ids given as safe-integer numbers become bigints.
 */
export function toRecord(message) {
  if (typeOf(message) !== "object") {
    throw new TypeError(`message: expected an object, got ${typeOf(message)}`);
  }
  const errors = [];
  for (const key of Object.keys(message)) {
    if (!BY_WIRE_NAME.has(key)) {
      errors.push({ field: key, reason: "unknown field: the endpoint has no such field" });
    }
  }
  const record = {};
  for (const [name, recordName, kind] of MESSAGE_FIELDS) {
    const value = message[name];
    if (value === undefined || value === null) {
      if (REQUIRED.has(name)) errors.push({ field: name, reason: `required: give a ${kind}` });
      continue;
    }
    const problems = checkValue(name, kind, value);
    errors.push(...problems);
    if (problems.length === 0) {
      record[recordName] = kind === "u64" ? BigInt(value) : kind === "list<string>" ? [...value] : value;
    }
  }
  if (errors.length > 0) throw new InvalidMessage(errors);
  return record;
}

function fromPayload(error) {
  if (error.tag === "execution-failed") {
    return new ExecutionFailed("the component reported execution-failed");
  }
  const { tag, val } = error.val;
  if (error.tag === "permanent" && tag === "invalid-message") {
    return new InvalidMessage(val.map(({ field, reason }) => ({ field, reason })));
  }
  const Class = (error.tag === "permanent" ? PERMANENT : TRANSIENT)[tag];
  return new Class(val);
}
