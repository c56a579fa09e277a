// proto/codec.ts and proto/validate.ts: round trips, the exact bytes of the README examples,
// and every bad-input code on hand-made input.

import { describe, expect, test } from "bun:test";
import { encode } from "@msgpack/msgpack";
import {
  AMOUNT_CENTS_MAX,
  BAD_INPUT_CODES,
  BadInputError,
  BATCH_ITEMS_MAX,
  type BadInputCode,
  decodeOrderItems,
  decodeOrders,
  encodeOrder,
  encodeOrders,
  MEMBER_MAX,
  type Order,
  type OrderEvent,
  validateEvent,
  validateOrder,
} from "../proto/index.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const TS = 1_767_225_600_000; // 2026-01-01T00:00:00Z

const paid: Order = { id: "o-1", member: 42, line: "tmall", kind: "paid", amount: 3550, ts: TS };

/** The first error code of each item, "ok" for a valid one. */
const codes = (bytes: Uint8Array, lines?: readonly string[]): string[] =>
  decodeOrderItems(bytes, lines).map((r) => (r.ok ? "ok" : r.error.code));

/** The code decodeOrderItems throws for a whole-message fault. */
function messageFault(bytes: Uint8Array): BadInputError {
  try {
    decodeOrderItems(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(BadInputError);
    return err as BadInputError;
  }
  throw new Error(`expected a whole-message fault for ${hex(bytes)}`);
}

describe("round trips", () => {
  test("a batch of orders and ticks", () => {
    const events: OrderEvent[] = [
      paid,
      { id: "r-1", member: 42, line: "tmall", kind: "refund", amount: 100, ts: TS + 5, orderTs: TS - 86_400_000 },
      { kind: "tick", ts: TS + 10 },
      { id: "订单-🎉", member: MEMBER_MAX, line: "hema", kind: "paid", amount: AMOUNT_CENTS_MAX, ts: Number.MAX_SAFE_INTEGER },
      { id: "x".repeat(64), member: 1, line: "eleme", kind: "refund", amount: 1, ts: 0, orderTs: 0 },
    ];
    expect(decodeOrders(encodeOrders(events))).toEqual(events);
  });

  test("orderTs absent stays absent; present is kept", () => {
    const [a, b] = decodeOrders(encodeOrders([paid, { ...paid, kind: "refund", orderTs: TS - 1 }])) as Order[];
    expect("orderTs" in a).toBe(false);
    expect(b.orderTs).toBe(TS - 1);
  });

  test("a single order and a single tick, not wrapped in a batch", () => {
    expect(decodeOrders(encodeOrder(paid))).toEqual([paid]);
    expect(decodeOrders(encodeOrder({ kind: "tick", ts: TS }))).toEqual([{ kind: "tick", ts: TS }]);
  });

  test("an empty batch", () => {
    expect(decodeOrders(encodeOrders([]))).toEqual([]);
    expect(hex(encodeOrders([]))).toBe("90");
  });

  test("the map form of an order is accepted too", () => {
    expect(decodeOrders(encode(paid))).toEqual([paid]);
    expect(decodeOrders(encode([paid, { ...paid, id: "o-2", orderTs: null }]))).toEqual([paid, { ...paid, id: "o-2" }]);
  });

  test("orderTs nil in a 7-field tuple means absent", () => {
    expect(decodeOrders(encode([["o-1", 42, "tmall", "paid", 3550, TS, null]]))).toEqual([paid]);
  });

  test("members up to 2^53−1 and ts beyond 2^32 go out as uint64 and come back exact", () => {
    const big: Order = { ...paid, member: MEMBER_MAX, ts: MEMBER_MAX, orderTs: 2 ** 32 };
    const bytes = encodeOrders([big]);
    expect(hex(bytes)).toContain("cf001fffffffffffff"); // 2^53−1 as uint64
    expect(hex(bytes)).toContain("cf0000000100000000"); // 2^32 as uint64
    expect(decodeOrders(bytes)).toEqual([big]);
    // Integers written as float64 (as some producers do) are accepted when integral.
    const asFloat = fromHex(`96 a3 6f2d31 cb 4045000000000000 a5 746d616c6c a4 70616964 cb 40abbc0000000000 cb ${float64Hex(TS)}`);
    expect(decodeOrders(asFloat)).toEqual([paid]);
  });

  test("the README's example bytes", () => {
    // proto/README.md pastes these two dumps; a change here is a wire-format change.
    expect(hex(encodeOrders([paid]))).toBe("9196a36f2d312aa5746d616c6ca470616964cd0ddecf0000019b76daa800");
    expect(hex(encodeOrder({ kind: "tick", ts: TS }))).toBe("82a46b696e64a47469636ba27473cf0000019b76daa800");
    const asMap = "86a26964a36f2d31a66d656d6265722aa46c696e65a5746d616c6ca46b696e64a470616964a6616d6f756e74cd0ddea27473cf0000019b76daa800";
    expect(hex(encode(paid))).toBe(asMap);
    expect(decodeOrders(fromHex(asMap))).toEqual([paid]);
  });

  test("encodeOrders refuses more than BATCH_ITEMS_MAX items", () => {
    const ticks = Array.from({ length: BATCH_ITEMS_MAX + 1 }, () => ({ kind: "tick" as const, ts: 1 }));
    expect(() => encodeOrders(ticks)).toThrow(RangeError);
    expect(decodeOrders(encodeOrders(ticks.slice(1)))).toHaveLength(BATCH_ITEMS_MAX);
  });
});

function float64Hex(x: number): string {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x);
  return hex(b);
}

describe("whole-message faults", () => {
  test.each([
    ["the reserved byte 0xc1", "c1"],
    ["an empty body", ""],
    ["a truncated batch", "9296a36f2d31"],
    ["a str header past the end", "d9ff61"],
    ["an array claiming 2^32−1 items", "ddffffffff"],
    ["a valid tick followed by a trailing byte", "82a46b696e64a47469636ba27473cf0000019b76daa80000"],
    ["two values back to back", "9090"],
  ])("%s is malformed", (_, bytes) => {
    const err = messageFault(fromHex(bytes));
    expect(err.code).toBe("malformed");
    expect(err.item).toBeUndefined();
    expect(err.message).toMatch(/^not msgpack: ./);
  });

  test("more than BATCH_ITEMS_MAX items is batch_too_large", () => {
    const bytes = encode(Array.from({ length: BATCH_ITEMS_MAX + 1 }, () => ({ kind: "tick", ts: 1 })));
    const err = messageFault(bytes);
    expect(err.code).toBe("batch_too_large");
    expect(err.message).toBe(`${BATCH_ITEMS_MAX + 1} items; at most ${BATCH_ITEMS_MAX}`);
  });

  test("an array of more than BATCH_ITEMS_MAX elements starting with a string is one (bad) tuple", () => {
    const bytes = encode(["o-1", ...Array.from({ length: BATCH_ITEMS_MAX + 1 }, () => 1)]);
    expect(codes(bytes)).toEqual(["bad_shape"]);
  });
});

/** A map-form order with `patch` applied (undefined removes a field). */
const order = (patch: Record<string, unknown>): Uint8Array => {
  const o: Record<string, unknown> = { ...paid, ...patch };
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return encode(o);
};

// [what, input, first error code, a regexp the message must match]
const VALIDATION_CASES: [string, Uint8Array, BadInputCode, RegExp][] = [
  ["a number instead of an order", encode(7), "bad_shape", /must be a map/],
  ["a tuple of 5 fields", encode([["o-1", 42, "tmall", "paid", 3550]]), "bad_shape", /must be a map/],
  ["a tuple of 8 fields", encode([["o-1", 42, "tmall", "paid", 3550, TS, null, 1]]), "bad_shape", /must be a map/],
  ["an unknown field", order({ note: "hi" }), "bad_shape", /unknown field "note"/],
  ["a tick with another field", encode({ kind: "tick", ts: TS, member: 1 }), "bad_shape", /only kind and ts/],
  ["a tick as a tuple", encode(["o-1", 42, "tmall", "tick", 3550, TS]), "bad_shape", /only kind and ts/],
  ["a bin instead of an order", fromHex("91 c4 00"), "bad_shape", /must be a map/],
  ["a timestamp ext instead of an order", fromHex("91 d6 ff 00000001"), "bad_shape", /must be a map/],
  ["a map key that is not a string", fromHex("91 81 c0 01"), "bad_shape", /unknown field/],
  ["a __proto__ key", protoKeyOrder(), "bad_shape", /unknown field/],
  ["no id", order({ id: undefined }), "bad_id", /non-empty string/],
  ["an empty id", order({ id: "" }), "bad_id", /non-empty string/],
  ["a numeric id", order({ id: 17 }), "bad_id", /non-empty string/],
  ["an id of 65 bytes", order({ id: "x".repeat(65) }), "bad_id", /65 bytes; at most 64/],
  ["an id of 22 CJK characters (66 bytes)", order({ id: "订".repeat(22) }), "bad_id", /66 bytes; at most 64/],
  ["an id that is not UTF-8", fromHex("96 a2 c0af 2a a5 746d616c6c a4 70616964 01 01"), "bad_id", /non-empty string/],
  ["no member", order({ member: undefined }), "bad_member", /integer 1 … 2\^53−1/],
  ["member 0", order({ member: 0 }), "bad_member", /integer 1/],
  ["member 2^53", order({ member: 2 ** 53 }), "bad_member", /integer 1/],
  ["member 1.5", order({ member: 1.5 }), "bad_member", /integer 1/],
  ["member −1", order({ member: -1 }), "bad_member", /integer 1/],
  ["member as a string", order({ member: "42" }), "bad_member", /integer 1/],
  ["an unknown line", order({ line: "amazon" }), "bad_line", /one of taobao, tmall, eleme, fliggy, hema/],
  ["a line in the wrong case", order({ line: "Tmall" }), "bad_line", /one of/],
  ["no line", order({ line: undefined }), "bad_line", /one of/],
  ["kind Paid", order({ kind: "Paid" }), "bad_kind", /"paid", "refund" or "tick"/],
  ["no kind", order({ kind: undefined }), "bad_kind", /"paid"/],
  ["kind nil", order({ kind: null }), "bad_kind", /"paid"/],
  ["amount 0", order({ amount: 0 }), "bad_amount", /integer cents, 1 … 10000000000/],
  ["amount above AMOUNT_CENTS_MAX", order({ amount: AMOUNT_CENTS_MAX + 1 }), "bad_amount", /integer cents/],
  ["amount 1.5", order({ amount: 1.5 }), "bad_amount", /integer cents/],
  ["amount as a string", order({ amount: "35.50" }), "bad_amount", /integer cents/],
  ["no ts", order({ ts: undefined }), "bad_ts", /integer of ms, 0 … 2\^53−1/],
  ["ts −1", order({ ts: -1 }), "bad_ts", /integer of ms/],
  ["ts 2^53", order({ ts: 2 ** 53 }), "bad_ts", /integer of ms/],
  ["ts 0.5", order({ ts: 0.5 }), "bad_ts", /integer of ms/],
  ["a tick without ts", encode({ kind: "tick" }), "bad_ts", /integer of ms/],
  ["a tick with ts nil", encode({ kind: "tick", ts: null }), "bad_ts", /integer of ms/],
  ["orderTs later than ts", order({ orderTs: TS + 1 }), "bad_order_ts", /not be later than ts/],
  ["orderTs −1", order({ orderTs: -1 }), "bad_order_ts", /integer of ms/],
  ["orderTs as a string", order({ orderTs: "yesterday" }), "bad_order_ts", /integer of ms/],
];

function protoKeyOrder(): Uint8Array {
  // {"__proto__": 1, ...paid}: @msgpack/msgpack would throw for the whole message; it is one bad item.
  const rest = encode(paid);
  return fromHex(`91 87 a9 ${hex(new TextEncoder().encode("__proto__"))} 01 ${hex(rest.subarray(1))}`);
}

describe("validation codes", () => {
  test.each(VALIDATION_CASES)("%s → %s", (_, bytes, code, message) => {
    const [r] = decodeOrderItems(bytes);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(BadInputError);
    expect(r.error.code).toBe(code);
    expect(r.error.message).toMatch(message);
  });

  test("every code of BAD_INPUT_CODES is covered here or belongs to the engine", () => {
    const seen = new Set<string>(VALIDATION_CASES.map((c) => c[2]));
    seen.add("malformed").add("batch_too_large"); // the whole-message faults above
    // ts_in_future needs the JetStream stored time, wrong_partition the message's subject:
    // the engine decides those, never the decoder.
    expect(BAD_INPUT_CODES.filter((c) => !seen.has(c))).toEqual(["ts_in_future", "wrong_partition"]);
  });

  test("the boundaries that are valid", () => {
    const ok = [
      order({ id: "x".repeat(64) }),
      order({ id: "订".repeat(21) }), // 63 bytes
      order({ id: "\uFEFFbom" }), // a BOM is part of the id
      order({ member: 1 }),
      order({ member: MEMBER_MAX }),
      order({ amount: 1 }),
      order({ amount: AMOUNT_CENTS_MAX }),
      order({ ts: 0, orderTs: 0 }),
      order({ ts: Number.MAX_SAFE_INTEGER }),
      order({ orderTs: TS }),
      order({ orderTs: null }),
      order({ kind: "refund", line: "fliggy" }),
      encode({ ts: TS, kind: "tick" }),
      encode({ kind: "tick", ts: 0 }),
    ];
    for (const bytes of ok) expect(codes(bytes)).toEqual(["ok"]);
    expect((decodeOrders(order({ id: "\uFEFFbom" }))[0] as Order).id).toBe("\uFEFFbom");
  });

  test("the first fault wins, in the order id, member, line, kind, amount, ts, orderTs", () => {
    const all = { id: "", member: 0, line: "x", kind: "x", amount: 0, ts: -1, orderTs: -1 };
    const expected: BadInputCode[] = ["bad_id", "bad_member", "bad_line", "bad_kind", "bad_amount", "bad_ts", "bad_order_ts"];
    const fields = Object.keys(all);
    for (let i = 0; i < fields.length; i++) {
      const o: Record<string, unknown> = { ...paid, orderTs: TS - 1 };
      for (const f of fields.slice(i)) o[f] = all[f as keyof typeof all];
      // Written in reverse field order: the map's key order must not matter.
      const reversed = Object.fromEntries(Object.entries(o).reverse());
      expect(codes(encode(o))).toEqual([expected[i]]);
      expect(codes(encode(reversed))).toEqual([expected[i]]);
    }
    // An unknown field is reported before anything else.
    expect(codes(encode({ ...all, extra: 1 }))).toEqual(["bad_shape"]);
  });

  test("invalid UTF-8 never reads as a valid line or kind (C1 B0 is an overlong 'p')", () => {
    const tuple = (line: string, kind: string) => fromHex(`96 a1 61 2a ${line} ${kind} 01 01`);
    expect(codes(tuple("a6 74616f62616f", "a4 70616964"))).toEqual(["ok"]);
    expect(codes(tuple("a6 74616f62616f", "a5 c1b0616964"))).toEqual(["bad_kind"]);
    expect(codes(tuple("a7 c1b4616f62616f", "a4 70616964"))).toEqual(["bad_line"]);
    expect(codes(tuple("a6 74616f62616f", "a7 efbbbf70616964"))).toEqual(["bad_kind"]); // BOM + "paid"
  });

  test("configured lines replace the defaults", () => {
    const bytes = order({ line: "taobao-global" });
    expect(codes(bytes)).toEqual(["bad_line"]);
    expect(codes(bytes, ["taobao-global"])).toEqual(["ok"]);
    expect(codes(order({}), ["taobao-global"])).toEqual(["bad_line"]);
  });
});

describe("decodeOrders", () => {
  test("throws BadInputError at the first bad item, with its index", () => {
    const bytes = encode([paid, { ...paid, amount: 0 }, { ...paid, id: "" }]);
    let err: unknown;
    try {
      decodeOrders(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadInputError);
    const e = err as BadInputError;
    expect(e.name).toBe("BadInputError");
    expect(e.code).toBe("bad_amount");
    expect(e.item).toBe(1);
    expect(e.message).toMatch(/^item 1: amount must be integer cents/);
  });

  test("a whole-message fault has no item", () => {
    expect(() => decodeOrders(fromHex("c1"))).toThrow(BadInputError);
    try {
      decodeOrders(fromHex("c1"));
    } catch (e) {
      expect((e as BadInputError).item).toBeUndefined();
    }
  });

  test("decodeOrderItems judges every item on its own", () => {
    const bytes = encode([paid, { ...paid, amount: 0 }, { kind: "tick", ts: TS }, 5, { ...paid, member: 0 }]);
    expect(codes(bytes)).toEqual(["ok", "bad_amount", "ok", "bad_shape", "bad_member"]);
  });
});

describe("validateOrder and validateEvent on objects (the gateway's JSON path)", () => {
  test("plain objects, from JSON too", () => {
    expect(validateOrder(JSON.parse(JSON.stringify(paid)))).toEqual({ ok: true, value: paid });
    expect(validateEvent({ kind: "tick", ts: 5 })).toEqual({ ok: true, value: { kind: "tick", ts: 5 } });
    expect(validateOrder(Object.assign(Object.create(null), paid)).ok).toBe(true);
  });

  test("a tick is not an order", () => {
    const r = validateOrder({ kind: "tick", ts: 5 });
    expect(r.ok ? "ok" : r.error.code).toBe("bad_id");
  });

  test.each([
    ["null", null],
    ["an array", [paid]],
    ["a Date", new Date(0)],
    ["a byte array", new Uint8Array(0)],
    ["a string", "order"],
    ["a class instance", new (class Order {})()],
  ])("%s is bad_shape", (_, value) => {
    for (const r of [validateOrder(value), validateEvent(value)]) {
      expect(r.ok ? "ok" : r.error.code).toBe("bad_shape");
    }
  });
});
