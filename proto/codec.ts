// The msgpack wire format of ORDERS messages (see README.md for the bytes).
// Encoding and object decoding use @msgpack/msgpack; the engine's hot path reads the same
// bytes with the allocation-free OrderReader (reader.ts) instead.

import { Decoder, type DecoderOptions, Encoder, ExtData, ExtensionCodec } from "@msgpack/msgpack";
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

// The object decoder is configured to see exactly the input OrderReader sees: msgpack
// structure only, every semantic fault left to validateEvent, per item.
// - Strings are UTF-8 or they are not strings. @msgpack/msgpack decodes strings up to 200
//   bytes (and every map key) with a lenient hand-written decoder that turns invalid bytes
//   into arbitrary characters (the overlong C1 B0 61 69 64 reads as "paid"), so strings are
//   decoded again here with the WHATWG decoder, fatal and keeping a BOM. A map key that is
//   not valid UTF-8 (or is "__proto__", or is not a string or a number) becomes a key no
//   field has, instead of failing the whole message.
// - Extensions stay ExtData: the built-in timestamp decoder would throw on a bad size (a
//   whole-message fault the reader, which skips extensions, does not see) or yield a Date.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** A msgpack str whose bytes are not UTF-8: not a string to the validator. */
class NotUtf8 {
  constructor(readonly bytes: Uint8Array) {}
}

/** The key of a map entry whose key cannot name a field. */
const UNUSABLE_KEY = "(not a UTF-8 string key)";

const isAscii = (bytes: Uint8Array, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) if (bytes[i] >= 0x80) return false;
  return true;
};

/** The keys an order or tick has, to skip decoding them again and again. */
const FIELD_KEYS = ["id", "member", "line", "kind", "amount", "ts", "orderTs"].map((key) => ({ key, bytes: new TextEncoder().encode(key) }));

const keyDecoder: NonNullable<DecoderOptions["keyDecoder"]> = {
  canBeCached: () => true, // every string key comes through decode()
  decode(bytes, offset, length) {
    const end = offset + length;
    for (const f of FIELD_KEYS) {
      if (f.bytes.length !== length) continue;
      let i = 0;
      while (i < length && f.bytes[i] === bytes[offset + i]) i++;
      if (i === length) return f.key;
    }
    let key: string;
    if (length <= 32 && isAscii(bytes, offset, end)) {
      key = String.fromCharCode(...bytes.subarray(offset, end)); // (spreading a long key would overflow)
    } else {
      try {
        key = strictUtf8.decode(bytes.subarray(offset, end));
      } catch {
        return UNUSABLE_KEY;
      }
    }
    return key === "__proto__" ? UNUSABLE_KEY : key;
  },
};

const extensionCodec = new ExtensionCodec();
extensionCodec.register({ type: -1, encode: () => null, decode: (data, type) => new ExtData(type, data) });

const mapKeyConverter = (key: unknown) => (typeof key === "string" || typeof key === "number" ? key : UNUSABLE_KEY);

/**
 * The body decoded twice: as usual, and with str values as their raw bytes (bin values are
 * bytes in both). An array or map header cannot claim more elements than the body has bytes:
 * without that limit @msgpack/msgpack allocates `new Array(n)` for whatever n a header claims
 * (0xdd 0x0fffffff: 2 GB) before it finds the body truncated.
 */
function decodeBoth(bytes: Uint8Array): [value: unknown, raw: unknown] {
  const options = {
    extensionCodec,
    keyDecoder,
    mapKeyConverter,
    useBigInt64: false,
    maxArrayLength: bytes.length,
    maxMapLength: bytes.length >>> 1,
  };
  const value = new Decoder(options).decode(bytes);
  return [value, new Decoder({ ...options, rawStrings: true }).decode(bytes)];
}

/**
 * `value` with the strings the validator reads (root, items, fields: depth ≤ 2) decoded
 * strictly from `raw`, the same tree decoded with raw strings.
 */
function strictStrings(value: unknown, raw: unknown, depth: number): unknown {
  if (typeof value === "string") {
    const bytes = raw as Uint8Array;
    if (isAscii(bytes, 0, bytes.length)) return value; // the usual decoding is exact for ASCII
    try {
      return strictUtf8.decode(bytes);
    } catch {
      return new NotUtf8(bytes);
    }
  }
  if (depth === 0 || typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map((v, i) => strictStrings(v, (raw as unknown[])[i], depth - 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value; // ExtData, bin
  const map = value as Record<string, unknown>;
  const rawMap = raw as Record<string, unknown>;
  for (const key of Object.keys(map)) map[key] = strictStrings(map[key], rawMap[key], depth - 1);
  return map;
}

const isStr = (v: unknown): boolean => typeof v === "string" || v instanceof NotUtf8;

/** A message body as the list of items it carries (one item unless it is a batch). */
function items(bytes: Uint8Array): unknown[] {
  let root: unknown;
  try {
    // Throws on truncation, reserved bytes and trailing bytes after the value.
    const [value, raw] = decodeBoth(bytes);
    root = strictStrings(value, raw, 2);
  } catch (err) {
    throw new BadInputError("malformed", `not msgpack: ${(err as Error).message}`);
  }
  // An array whose first element is a string is one order tuple; any other array is a batch.
  const isBatch = Array.isArray(root) && (root.length === 0 || !isStr(root[0]));
  const list = isBatch ? (root as unknown[]) : [root];
  if (list.length > BATCH_ITEMS_MAX) {
    throw new BadInputError("batch_too_large", `${list.length} items; at most ${BATCH_ITEMS_MAX}`);
  }
  return list;
}

/**
 * Every item as a plain object (tuples become maps), unvalidated — what validateEvent takes.
 * Whole-message faults throw BadInputError. For tools that judge items themselves.
 */
export function decodeRawItems(bytes: Uint8Array): unknown[] {
  return items(bytes).map(fromWire);
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
