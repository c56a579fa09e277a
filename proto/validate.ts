// Validation of decoded orders and ticks: one place, one code per reason.
// Off the hot path (the engine's OrderReader applies the same rules on raw bytes; a test
// checks that the two agree on random input).

import { BadInputError } from "./errors.ts";
import {
  AMOUNT_CENTS_MAX,
  DEFAULT_LINES,
  isMemberId,
  ORDER_ID_BYTES_MAX,
  type Order,
  type OrderEvent,
} from "./types.ts";

const ORDER_KEYS = new Set(["id", "member", "line", "kind", "amount", "ts", "orderTs"]);
const utf8 = new TextEncoder();

const isTs = (v: unknown): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER;

/** A map as a decoder or JSON.parse makes it (not an array, Date, byte array or ExtData). */
const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== "object" || v === null) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

export type Validated<T> = { ok: true; value: T } | { ok: false; error: BadInputError };

const bad = (code: BadInputError["code"], message: string): Validated<never> => ({
  ok: false,
  error: new BadInputError(code, message),
});

/** Validates one order or tick (a plain object); `lines` are the configured business lines. */
export function validateEvent(value: unknown, lines: readonly string[] = DEFAULT_LINES): Validated<OrderEvent> {
  if (!isPlainObject(value)) return bad("bad_shape", "an order or tick must be a map");
  const v = value;
  if (v.kind === "tick") {
    for (const key of Object.keys(v)) {
      if (key !== "kind" && key !== "ts") return bad("bad_shape", `a tick has only kind and ts, not ${JSON.stringify(key)}`);
    }
    if (!isTs(v.ts)) return bad("bad_ts", "ts must be an integer of ms, 0 … 2^53−1");
    return { ok: true, value: { kind: "tick", ts: v.ts } };
  }
  return validateOrder(value, lines);
}

/** Validates one order (a plain object); `lines` are the configured business lines. */
export function validateOrder(value: unknown, lines: readonly string[] = DEFAULT_LINES): Validated<Order> {
  if (!isPlainObject(value)) return bad("bad_shape", "an order must be a map");
  const v = value;
  for (const key of Object.keys(v)) {
    if (!ORDER_KEYS.has(key)) return bad("bad_shape", `unknown field ${JSON.stringify(key)}`);
  }
  if (typeof v.id !== "string" || v.id.length === 0) return bad("bad_id", "id must be a non-empty string");
  // A lone surrogate (JSON "\ud800") has no UTF-8 form: encoded, it would be bytes the engine refuses.
  if (!v.id.isWellFormed()) return bad("bad_id", "id must be valid Unicode (no lone surrogates)");
  const idBytes = utf8.encode(v.id).length;
  if (idBytes > ORDER_ID_BYTES_MAX) return bad("bad_id", `id is ${idBytes} bytes; at most ${ORDER_ID_BYTES_MAX}`);
  if (!isMemberId(v.member)) {
    return bad("bad_member", "member must be an integer 1 … 2^53−1");
  }
  if (typeof v.line !== "string" || !lines.includes(v.line)) {
    return bad("bad_line", `line must be one of ${lines.join(", ")}`);
  }
  if (v.kind !== "paid" && v.kind !== "refund") return bad("bad_kind", 'kind must be "paid", "refund" or "tick"');
  if (typeof v.amount !== "number" || !Number.isInteger(v.amount) || v.amount < 1 || v.amount > AMOUNT_CENTS_MAX) {
    return bad("bad_amount", `amount must be integer cents, 1 … ${AMOUNT_CENTS_MAX}`);
  }
  if (!isTs(v.ts)) return bad("bad_ts", "ts must be an integer of ms, 0 … 2^53−1");
  const order: Order = { id: v.id, member: v.member, line: v.line, kind: v.kind, amount: v.amount, ts: v.ts };
  if (v.orderTs !== undefined && v.orderTs !== null) {
    if (!isTs(v.orderTs)) return bad("bad_order_ts", "orderTs must be an integer of ms, 0 … 2^53−1");
    if (v.orderTs > v.ts) return bad("bad_order_ts", "orderTs must not be later than ts");
    order.orderTs = v.orderTs;
  }
  return { ok: true, value: order };
}
