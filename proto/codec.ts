// The msgpack wire format of ORDERS messages (see README.md for the bytes).
// Encoding and object decoding use @msgpack/msgpack; the engine's hot path reads the same
// bytes with the allocation-free OrderReader (reader.ts) instead.

import { decode, Encoder } from "@msgpack/msgpack";
import { BadInputError } from "./errors.ts";
import { BATCH_ITEMS_MAX, DEFAULT_LINES, type OrderEvent } from "./types.ts";
import { type Validated, validateEvent } from "./validate.ts";

// forceIntegerToFloat stays off: integers go out as msgpack ints (ts needs uint64).
const encoder = new Encoder({ ignoreUndefined: true });

/** The tuple of an order: [id, member, line, kind, amount, ts] plus orderTs when present. */
function toWire(e: OrderEvent): unknown {
  if (e.kind === "tick") return { kind: "tick", ts: e.ts };
  return e.orderTs === undefined
    ? [e.id, e.member, e.line, e.kind, e.amount, e.ts]
    : [e.id, e.member, e.line, e.kind, e.amount, e.ts, e.orderTs];
}

/** One message body: an array of tuples (ticks as maps). Events are not validated here. */
export function encodeOrders(events: readonly OrderEvent[]): Uint8Array {
  if (events.length > BATCH_ITEMS_MAX) throw new RangeError(`at most ${BATCH_ITEMS_MAX} items per message`);
  return encoder.encode(events.map(toWire));
}

/** One event on its own (not wrapped in a batch). */
export function encodeOrder(event: OrderEvent): Uint8Array {
  return encoder.encode(toWire(event));
}

const TUPLE_FIELDS = ["id", "member", "line", "kind", "amount", "ts", "orderTs"] as const;

function fromWire(item: unknown): unknown {
  if (!Array.isArray(item)) return item;
  if (item.length !== 6 && item.length !== 7) return null; // rejected as bad_shape by validateEvent
  const order: Record<string, unknown> = {};
  for (let i = 0; i < item.length; i++) order[TUPLE_FIELDS[i]] = item[i];
  return order;
}

/** A message body as the list of items it carries (one item unless it is a batch). */
function items(bytes: Uint8Array): unknown[] {
  let root: unknown;
  try {
    root = decode(bytes, { useBigInt64: false });
  } catch (err) {
    throw new BadInputError("malformed", `not msgpack: ${(err as Error).message}`);
  }
  // An array whose first element is a string is one order tuple; any other array is a batch.
  const isBatch = Array.isArray(root) && (root.length === 0 || typeof root[0] !== "string");
  const list = isBatch ? (root as unknown[]) : [root];
  if (list.length > BATCH_ITEMS_MAX) {
    throw new BadInputError("batch_too_large", `${list.length} items; at most ${BATCH_ITEMS_MAX}`);
  }
  return list;
}

/** Decodes and validates every item; whole-message faults throw BadInputError. */
export function decodeOrderItems(bytes: Uint8Array, lines: readonly string[] = DEFAULT_LINES): Validated<OrderEvent>[] {
  return items(bytes).map((item) => validateEvent(fromWire(item), lines));
}

/** Decodes a message body; throws BadInputError (with `item`) at the first bad item. */
export function decodeOrders(bytes: Uint8Array, lines: readonly string[] = DEFAULT_LINES): OrderEvent[] {
  return decodeOrderItems(bytes, lines).map((r, i) => {
    if (!r.ok) throw new BadInputError(r.error.code, `item ${i}: ${r.error.message}`, i);
    return r.value;
  });
}
