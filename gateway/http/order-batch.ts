// POST /v1/orders bodies → orders, all or nothing. JSON (an array of orders, or {orders: [...]})
// or the proto msgpack wire format. Every item is validated with proto's validator; any bad
// item refuses the whole batch with one error per bad item.
// Beyond proto's validator the gateway refuses, per item:
//   - ticks (`bad_kind`): the clock is the engines' business;
//   - `ts` more than futureSkewMs after the gateway's clock (`ts_in_future`): the engine would
//     dead-letter it after a 202, so the producer hears of it now instead.

import { BadInputError, type BadInputCode } from "../../proto/errors.ts";
import { decodeOrderItems } from "../../proto/codec.ts";
import { BATCH_ITEMS_MAX, type Order } from "../../proto/types.ts";
import { type Validated, validateOrder } from "../../proto/validate.ts";
import { mediaType } from "./body.ts";
import { HttpError } from "./errors.ts";

/** The contract's bound: a JetStream stored time more than 5 minutes before `ts` is bad input. */
export const FUTURE_SKEW_MS_DEFAULT = 300_000;
/** Item errors listed in one 400 (the message always gives the full count). */
export const ITEM_ERRORS_LISTED_MAX = 1000;

const MEDIA_JSON = "application/json";
const MEDIA_MSGPACK = new Set(["application/msgpack", "application/x-msgpack", "application/vnd.msgpack"]);

export interface ItemError {
  item: number;
  code: BadInputCode;
  message: string;
}

export interface BatchRules {
  lines: readonly string[];
  nowMs: number;
  futureSkewMs: number;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && (Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

const badKind = (): Validated<never> => ({
  ok: false,
  error: new BadInputError("bad_kind", 'kind must be "paid" or "refund" (ticks are published by the engines)'),
});

/** The orders of a body, or an HttpError: 400 (bad body or items), 413 (too many), 415. */
export function parseOrdersBody(contentType: string | null | undefined, body: Uint8Array, rules: BatchRules): Order[] {
  const type = mediaType(contentType);
  let results: Validated<unknown>[];
  if (type === MEDIA_JSON) {
    results = jsonItems(body).map((item) =>
      isPlainObject(item) && item.kind === "tick" ? badKind() : validateOrder(item, rules.lines),
    );
  } else if (MEDIA_MSGPACK.has(type)) {
    // Whole-message faults (not msgpack, > BATCH_ITEMS_MAX) throw BadInputError: 400 / 413.
    results = decodeOrderItems(body, rules.lines).map((r) => (r.ok && r.value.kind === "tick" ? badKind() : r));
  } else {
    throw new HttpError(415, "unsupported_media_type", "Content-Type must be application/json or application/msgpack");
  }
  if (results.length === 0) throw new HttpError(400, "empty_batch", "the batch has no orders");

  const orders: Order[] = [];
  const errors: ItemError[] = [];
  let invalid = 0;
  const tsMax = rules.nowMs + rules.futureSkewMs;
  for (let i = 0; i < results.length; i++) {
    const r = results[i];
    let error: BadInputError | undefined;
    if (!r.ok) error = r.error;
    else if ((r.value as Order).ts > tsMax) {
      error = new BadInputError("ts_in_future", `ts is more than ${rules.futureSkewMs} ms after the gateway's clock`);
    } else orders.push(r.value as Order);
    if (error) {
      invalid++;
      if (errors.length < ITEM_ERRORS_LISTED_MAX) errors.push({ item: i, code: error.code, message: error.message });
    }
  }
  if (invalid > 0) {
    const listed = invalid > errors.length ? ` (the first ${errors.length} are listed)` : "";
    throw new HttpError(400, "invalid_orders", `${invalid} of ${results.length} orders are invalid${listed}; nothing was published`, {
      items: errors,
    });
  }
  return orders;
}

function jsonItems(body: Uint8Array): unknown[] {
  let root: unknown;
  try {
    root = JSON.parse(utf8.decode(body));
  } catch {
    throw new HttpError(400, "malformed", "the body is not JSON (UTF-8)");
  }
  let list: unknown;
  if (Array.isArray(root)) list = root;
  else if (isPlainObject(root) && Object.keys(root).length === 1) list = root.orders;
  if (!Array.isArray(list)) {
    throw new HttpError(400, "bad_shape", "the body must be an array of orders or {\"orders\": [...]}");
  }
  if (list.length > BATCH_ITEMS_MAX) {
    throw new HttpError(413, "batch_too_large", `${list.length} orders; at most ${BATCH_ITEMS_MAX} per request`);
  }
  return list;
}
