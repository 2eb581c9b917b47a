/**
 * Types of the heymarket-sms wrapper. Ids (`inbox_id`, `creator_id`, `chat_id`,
 * `list_id`, `template_id`, `survey_id`) are 64-bit: pass a `bigint`, or a `number` that
 * is a safe integer (at most 2^53 - 1); ids always come back as `bigint`.
 */

/** A 64-bit id as a caller may pass it. */
export type Id = bigint | number;

/** The body of `POST /v1/message/send`, in the endpoint's own snake_case names. */
export interface Message {
  inbox_id: Id;
  creator_id: Id;
  phone_number?: string | null;
  targets?: string[] | null;
  chat_id?: Id | null;
  list_id?: Id | null;
  text?: string | null;
  media_url?: string | null;
  template_id?: Id | null;
  local_id?: string | null;
  activity_id?: string | null;
  private?: boolean | null;
  author?: string | null;
  survey_id?: Id | null;
}

/** A message Heymarket accepted. */
export interface SentMessage {
  id: bigint;
  date: string;
  galleryUrl?: string;
  /** The idempotency key actually used: the caller's, or the one the component made. */
  localId: string;
  requestId?: string;
  /** How many HTTP requests the call made, 1 when the first succeeded. */
  attempts: number;
}

export type Encoding = "gsm7" | "ucs2";

/** What `sendMessage` would post, computed without any network call. */
export interface MessagePreview {
  body: string;
  encoding: Encoding;
  characters: number;
  segments: number;
}

export interface FieldError {
  /** The wire name, e.g. `phone_number`, `targets[2]`, or `message` across fields. */
  field: string;
  reason: string;
}

export interface ApiError {
  status: number;
  message: string;
  requestId?: string;
  /** The raw response body, at most 4096 bytes. */
  body: string;
}

/** `HEYMARKET_*` variable names and their values. */
export type Settings = Record<string, string>;

export declare const INTERFACE: "heymarket:sms/messages@0.1.0";
export declare const MESSAGE_FIELDS: ReadonlyArray<readonly [string, string, string]>;

export declare class HeymarketSms {
  private constructor();
  /** Loads the component with these settings (default: this process's HEYMARKET_*). */
  static load(options?: { settings?: Settings }): Promise<HeymarketSms>;
  /** Rejects with a `SendError` subclass. */
  sendMessage(message: Message): Promise<SentMessage>;
  /** Rejects with `InvalidMessage` for a message that breaks the rules. */
  previewMessage(message: Message): Promise<MessagePreview>;
}

/** Converts a snake_case body to the component's record; throws `InvalidMessage`. */
export declare function toRecord(message: Message): Record<string, unknown>;

export declare class SendError extends Error {
  readonly kind: string;
  readonly retryable: boolean;
  static readonly kind: string;
  static readonly retryable: boolean;
}
export declare class PermanentFailure extends SendError {}
export declare class TransientFailure extends SendError {}

export declare class InvalidMessage extends PermanentFailure {
  readonly kind: "permanent.invalid-message";
  readonly fieldErrors: FieldError[];
}
export declare class Configuration extends PermanentFailure {
  readonly kind: "permanent.configuration";
  readonly detail: string;
}
export declare class Unauthorized extends PermanentFailure {
  readonly kind: "permanent.unauthorized";
  readonly apiError: ApiError;
}
export declare class Forbidden extends PermanentFailure {
  readonly kind: "permanent.forbidden";
  readonly apiError: ApiError;
}
export declare class Rejected extends PermanentFailure {
  readonly kind: "permanent.rejected";
  readonly apiError: ApiError;
}
export declare class RateLimited extends TransientFailure {
  readonly kind: "transient.rate-limited";
  readonly apiError: ApiError;
}
export declare class Server extends TransientFailure {
  readonly kind: "transient.server";
  readonly apiError: ApiError;
}
export declare class Timeout extends TransientFailure {
  readonly kind: "transient.timeout";
  readonly detail: string;
}
export declare class Connection extends TransientFailure {
  readonly kind: "transient.connection";
  readonly detail: string;
}
export declare class InvalidResponse extends TransientFailure {
  readonly kind: "transient.invalid-response";
  readonly apiError: ApiError;
}
export declare class ExecutionFailed extends SendError {
  readonly kind: "execution-failed";
  readonly detail: string;
}
