// OrderReader (the engine's allocation-free hot path) against decodeOrderItems (the object
// path): the same whole-message faults, the same first error code per item and the same
// values, on generated valid messages, on mutations of them and on random bytes. Then the
// fingerprint, and that reading allocates nothing per order.
//
// Every random input comes from a seeded PRNG; a failure names the seed, the case and the
// bytes. PROTO_SEED=<n> bun test test/proto.reader.test.ts runs another seed.

import { describe, expect, test } from "bun:test";
import { SNAPSHOT_VERSION } from "../engine/snapshot/format.ts";
import {
  AMOUNT_CENTS_MAX,
  BAD_INPUT_CODES,
  BadInputError,
  BATCH_ITEMS_MAX,
  decodeOrderItems,
  encodeOrders,
  ITEM_PAID,
  ITEM_REFUND,
  ITEM_TICK,
  MEMBER_MAX,
  type Order,
  OrderReader,
} from "../proto/index.ts";
import { encode } from "@msgpack/msgpack";
import { mulberry32 } from "./harness/prng.ts";

const SEED = Number(process.env.PROTO_SEED ?? 0x0bad5eed);
const LINES = ["taobao", "tmall", "eleme", "fliggy", "hema"] as const;
const CODES = new Set<string>(BAD_INPUT_CODES);
const utf8 = new TextEncoder();
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

type Rnd = () => number;
const below = (rnd: Rnd, n: number): number => Math.floor(rnd() * n);
const pickOf = <T>(rnd: Rnd, xs: readonly T[]): T => xs[below(rnd, xs.length)];

// ---------------------------------------------------------------------------------------
// A msgpack writer that picks a random valid encoding of every value (fixint or uint64 or
// float64 for the same integer, fixstr or str32 for the same string, …): the reader has to
// read every one of them the way @msgpack/msgpack does.

class Writer {
  private out = new Uint8Array(1024);
  private n = 0;
  private readonly f64 = new DataView(new ArrayBuffer(8));
  constructor(private readonly rnd: Rnd) {}

  bytes(): Uint8Array {
    return this.out.slice(0, this.n);
  }

  private push(b: number): void {
    if (this.n === this.out.length) {
      const grown = new Uint8Array(this.out.length * 2);
      grown.set(this.out);
      this.out = grown;
    }
    this.out[this.n++] = b;
  }

  /** `v` (0 … 2^53−1) big-endian in `width` bytes, after the byte `head`. */
  private be(head: number, v: number, width: number): void {
    this.push(head);
    for (let i = width - 1; i >= 0; i--) this.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  }

  nil(): void {
    this.push(0xc0);
  }

  number(v: number): void {
    // Every format that holds v exactly: 0 positive fixint, 1 negative fixint, else the type byte.
    const formats: number[] = [];
    if (Number.isInteger(v) && v >= 0 && v <= Number.MAX_SAFE_INTEGER) {
      if (v <= 0x7f) formats.push(0, 0xd0);
      if (v <= 0xff) formats.push(0xcc);
      if (v <= 0x7fff) formats.push(0xd1);
      if (v <= 0xffff) formats.push(0xcd);
      if (v <= 0x7fffffff) formats.push(0xd2);
      if (v <= 0xffffffff) formats.push(0xce);
      formats.push(0xcf, 0xd3);
    } else if (Number.isInteger(v) && v < 0 && v >= -(2 ** 31)) {
      if (v >= -32) formats.push(1);
      formats.push(0xd2);
    }
    if (Math.fround(v) === v) formats.push(0xca);
    formats.push(0xcb);
    const f = pickOf(this.rnd, formats);
    if (f === 0) this.push(v);
    else if (f === 1) this.push(v & 0xff);
    else if (f === 0xd0 || f === 0xcc) this.be(f, v, 1);
    else if (f === 0xd1 || f === 0xcd) this.be(f, v, 2);
    else if (f === 0xd2 || f === 0xce) this.be(f, v >>> 0, 4);
    else if (f === 0xcf || f === 0xd3) this.be(f, v, 8);
    else if (f === 0xca) {
      this.f64.setFloat32(0, v);
      this.push(0xca);
      for (let i = 0; i < 4; i++) this.push(this.f64.getUint8(i));
    } else {
      this.f64.setFloat64(0, v);
      this.push(0xcb);
      for (let i = 0; i < 8; i++) this.push(this.f64.getUint8(i));
    }
  }

  str(s: string | Uint8Array): void {
    const b = typeof s === "string" ? utf8.encode(s) : s;
    this.header(b.length, 0xa0, 32, 0xd9, 0xda, 0xdb);
    for (const x of b) this.push(x);
  }

  array(n: number): void {
    this.header(n, 0x90, 16, -1, 0xdc, 0xdd);
  }

  map(n: number): void {
    this.header(n, 0x80, 16, -1, 0xde, 0xdf);
  }

  /** A length header in any form that holds n: fix (below `fixMax`), 8-bit (str only), 16- or 32-bit. */
  private header(n: number, fix: number, fixMax: number, h8: number, h16: number, h32: number): void {
    const forms: number[] = [];
    if (n < fixMax) forms.push(fix);
    if (h8 >= 0 && n < 256) forms.push(h8);
    if (n < 65536) forms.push(h16);
    forms.push(h32);
    const f = pickOf(this.rnd, forms);
    if (f === fix) this.push(fix | n);
    else if (f === h8) this.be(h8, n, 1);
    else if (f === h16) this.be(h16, n, 2);
    else this.be(h32, n, 4);
  }
}

// ---------------------------------------------------------------------------------------
// Generated valid items.

type Spec =
  | { kind: "tick"; ts: number }
  | { kind: "order"; order: Order; tuple: boolean; orderTsNil: boolean };

const ID_CHARS = ["a", "Z", "0", "-", "_", ":", "é", "ß", "订", "单", "号", "🎉", "𝄞", "\uFEFF", " ", "~"];
const ID_CHAR_BYTES = ID_CHARS.map((c) => utf8.encode(c).length);

/** 1 … 64 bytes of UTF-8: mostly printable ASCII, some 2-, 3- and 4-byte characters, a BOM. */
function randomId(rnd: Rnd): string {
  const budget = rnd() < 0.2 ? 64 : 1 + below(rnd, 64);
  let id = "";
  let bytes = 0;
  for (;;) {
    const k = rnd() < 0.6 ? -1 : below(rnd, ID_CHARS.length);
    const c = k < 0 ? String.fromCharCode(0x21 + below(rnd, 94)) : ID_CHARS[k];
    const n = k < 0 ? 1 : ID_CHAR_BYTES[k];
    if (bytes + n > budget) break;
    id += c;
    bytes += n;
  }
  return id.length > 0 ? id : "x";
}

const EDGES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
/** An integer lo … hi: an edge (clamped) half the time, else uniform. */
function intIn(rnd: Rnd, lo: number, hi: number): number {
  if (rnd() < 0.5) return Math.min(hi, Math.max(lo, pickOf(rnd, EDGES)));
  return lo + Math.floor(rnd() * (hi - lo + 1));
}

function randomSpec(rnd: Rnd): Spec {
  if (rnd() < 0.1) return { kind: "tick", ts: intIn(rnd, 0, Number.MAX_SAFE_INTEGER) };
  const ts = rnd() < 0.5 ? 1_767_225_600_000 + below(rnd, 1e10) : intIn(rnd, 0, Number.MAX_SAFE_INTEGER);
  const order: Order = {
    id: randomId(rnd),
    member: intIn(rnd, 1, MEMBER_MAX),
    line: pickOf(rnd, LINES),
    kind: rnd() < 0.7 ? "paid" : "refund",
    amount: intIn(rnd, 1, AMOUNT_CENTS_MAX),
    ts,
  };
  if (rnd() < 0.4) order.orderTs = rnd() < 0.2 ? ts : intIn(rnd, 0, ts);
  return { kind: "order", order, tuple: rnd() < 0.5, orderTsNil: order.orderTs === undefined && rnd() < 0.3 };
}

function shuffle<T>(rnd: Rnd, xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = below(rnd, i + 1);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

function writeSpec(w: Writer, rnd: Rnd, s: Spec): void {
  if (s.kind === "tick") {
    w.map(2);
    for (const key of shuffle(rnd, ["kind", "ts"])) {
      w.str(key);
      if (key === "kind") w.str("tick");
      else w.number(s.ts);
    }
    return;
  }
  const o = s.order;
  const fields: [string, () => void][] = [
    ["id", () => w.str(o.id)],
    ["member", () => w.number(o.member)],
    ["line", () => w.str(o.line)],
    ["kind", () => w.str(o.kind)],
    ["amount", () => w.number(o.amount)],
    ["ts", () => w.number(o.ts)],
  ];
  if (o.orderTs !== undefined) fields.push(["orderTs", () => w.number(o.orderTs as number)]);
  else if (s.orderTsNil) fields.push(["orderTs", () => w.nil()]);
  if (s.tuple) {
    w.array(fields.length);
    for (const [, write] of fields) write();
  } else {
    w.map(fields.length);
    for (const [key, write] of shuffle(rnd, fields)) {
      w.str(key);
      write();
    }
  }
}

/** What both paths must report for a valid spec. */
function expected(s: Spec): string {
  if (s.kind === "tick") return `tick ${s.ts}`;
  const o = s.order;
  const kind = o.kind === "paid" ? ITEM_PAID : ITEM_REFUND;
  return JSON.stringify([kind, o.member, LINES.indexOf(o.line as (typeof LINES)[number]), o.amount, o.ts, o.orderTs ?? -1, o.id]);
}

/** A message of `count` items; a lone item is sometimes written bare, not in a batch. */
function randomMessage(rnd: Rnd, count: number): { bytes: Uint8Array; specs: Spec[] } {
  const w = new Writer(rnd);
  const specs = Array.from({ length: count }, () => randomSpec(rnd));
  if (count === 1 && rnd() < 0.4) {
    writeSpec(w, rnd, specs[0]);
  } else {
    w.array(count);
    for (const s of specs) writeSpec(w, rnd, s);
  }
  return { bytes: w.bytes(), specs };
}

// ---------------------------------------------------------------------------------------
// The two paths, reduced to comparable outcomes.

interface Outcome {
  /** A whole-message fault, or null. */
  fault: string | null;
  /** Per item: its error code, or its values (`expected`'s format). */
  items: string[];
}

const reader = new OrderReader(LINES);

function viaReader(bytes: Uint8Array): Outcome {
  const fault = reader.begin(bytes);
  if (fault !== null) {
    if (!CODES.has(fault)) throw new Error(`untyped fault ${String(fault)}`);
    if (reader.next()) throw new Error("next() after a whole-message fault");
    return { fault, items: [] };
  }
  const items: string[] = [];
  let prevEnd = -1;
  while (reader.next()) {
    if (reader.index !== items.length) throw new Error(`index ${reader.index}, expected ${items.length}`);
    if (prevEnd >= 0 && reader.itemStart !== prevEnd) throw new Error(`item ${reader.index} starts at ${reader.itemStart}, not ${prevEnd}`);
    if (!(reader.itemStart < reader.itemEnd && reader.itemEnd <= bytes.length)) throw new Error("bad item range");
    prevEnd = reader.itemEnd;
    const e = reader.error;
    if (e !== null) {
      if (!CODES.has(e)) throw new Error(`untyped item error ${String(e)}`);
      items.push(e);
    } else if (reader.kind === ITEM_TICK) {
      items.push(`tick ${reader.ts}`);
    } else {
      const r = reader;
      items.push(JSON.stringify([r.kind, r.member, r.line, r.amount, r.ts, r.orderTs, r.idString()]));
    }
  }
  if (items.length !== reader.count) throw new Error(`count ${reader.count}, read ${items.length}`);
  if (items.length > 0 && prevEnd !== bytes.length) throw new Error(`last item ends at ${prevEnd} of ${bytes.length}`);
  return { fault: null, items };
}

function viaCodec(bytes: Uint8Array): Outcome {
  let list: ReturnType<typeof decodeOrderItems>;
  try {
    list = decodeOrderItems(bytes, LINES);
  } catch (err) {
    if (!(err instanceof BadInputError)) throw err;
    return { fault: err.code, items: [] };
  }
  const items = list.map((r) => {
    if (!r.ok) return r.error.code;
    const v = r.value;
    if (v.kind === "tick") return `tick ${v.ts}`;
    const kind = v.kind === "paid" ? ITEM_PAID : ITEM_REFUND;
    return JSON.stringify([kind, v.member, LINES.indexOf(v.line as (typeof LINES)[number]), v.amount, v.ts, v.orderTs ?? -1, v.id]);
  });
  return { fault: null, items };
}

/** Both outcomes, or throws with everything needed to reproduce a disagreement. */
function agree(bytes: Uint8Array, where: string): Outcome {
  let r: Outcome;
  let c: Outcome;
  try {
    r = viaReader(bytes);
    c = viaCodec(bytes);
  } catch (err) {
    throw new Error(`seed ${SEED}, ${where}: threw ${(err as Error).stack}\nbytes ${hex(bytes)}`);
  }
  const rs = JSON.stringify(r);
  const cs = JSON.stringify(c);
  if (rs !== cs) throw new Error(`seed ${SEED}, ${where}: reader and codec disagree\nreader ${rs}\ncodec  ${cs}\nbytes  ${hex(bytes)}`);
  return r;
}

// ---------------------------------------------------------------------------------------

// First, while the JIT has seen only valid orders (the engine's steady state): after the
// fuzzing below the reader ran ~2.5× slower in our runs, and so would this.
describe("reading allocates nothing per order", () => {
  const ORDERS = 10_000;
  // Ids of 8 … 24 bytes (fixstr), one in ten of 33 … 60 (str8), one in ten with CJK; every
  // number format the encoder uses; refunds with orderTs.
  const batch = (() => {
    const rnd = mulberry32(SEED + 7);
    const orders: Order[] = [];
    for (let i = 0; i < ORDERS; i++) {
      const id = `${i % 10 === 0 ? "订单" : "ord"}-${i}-`.padEnd(i % 10 === 5 ? 33 + below(rnd, 28) : 8 + below(rnd, 17), "x");
      const ts = 1_767_225_600_000 + i;
      orders.push({
        id,
        member: intIn(rnd, 1, MEMBER_MAX),
        line: pickOf(rnd, LINES),
        kind: i % 5 === 0 ? "refund" : "paid",
        amount: intIn(rnd, 1, AMOUNT_CENTS_MAX),
        ts,
        ...(i % 5 === 0 ? { orderTs: ts - 86_400_000 } : {}),
      });
    }
    return encodeOrders(orders);
  })();

  function readBatch(rounds: number): number {
    let sum = 0;
    for (let k = 0; k < rounds; k++) {
      if (reader.begin(batch) !== null) throw new Error("the batch is malformed");
      while (reader.next()) {
        if (reader.error !== null) throw new Error(`item ${reader.index}: ${reader.error}`);
        sum += reader.member + reader.amount + reader.fingerprintLo + reader.line;
      }
    }
    return sum;
  }

  test("no growth of the live heap: 100 reads of 10 000 orders", () => {
    readBatch(50); // warm up: JIT tiers, lazily built structures
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    readBatch(100);
    Bun.gc(true);
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown / (100 * ORDERS)).toBeLessThan(0.1); // bytes per order
  });

  test("no garbage either: under 0.5 byte per order (measured in a process of its own)", async () => {
    // The live-heap check above cannot see garbage (heapUsed moves only at collections), so
    // test/harness/reader-garbage.ts watches for collections instead. (A closure in skipValue
    // once allocated ~20 bytes per str8 id, in one order of ten; this caught it.)
    const child = Bun.spawn([process.execPath, `${import.meta.dir}/harness/reader-garbage.ts`], { stdout: "pipe", stderr: "inherit" });
    const out = await new Response(child.stdout).text();
    expect(await child.exited).toBe(0);
    const r = JSON.parse(out) as { rounds: number; collected: boolean; budgetBytes: number };
    expect(r.rounds).toBeGreaterThan(0);
    expect(r.collected).toBe(false);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------

describe("OrderReader agrees with decodeOrderItems", () => {
  test("on 2000 generated valid messages (both read exactly what was written)", () => {
    const rnd = mulberry32(SEED);
    let orders = 0;
    for (let i = 0; i < 2000; i++) {
      const r = rnd();
      const count = r < 0.02 ? 0 : r < 0.5 ? 1 + below(rnd, 5) : r < 0.99 ? below(rnd, 200) : 1000 + below(rnd, 2000);
      const { bytes, specs } = randomMessage(rnd, count);
      const out = agree(bytes, `valid message ${i}`);
      const want = JSON.stringify({ fault: null, items: specs.map(expected) });
      if (JSON.stringify(out) !== want) {
        throw new Error(`seed ${SEED}, valid message ${i}: read ${JSON.stringify(out)}\nwritten ${want}\nbytes ${hex(bytes)}`);
      }
      orders += count;
    }
    expect(orders).toBeGreaterThan(100_000);
  }, 30_000);

  test("each valid item's byte range decodes alone to the same item (what the DLQ gets)", () => {
    const rnd = mulberry32(SEED + 1);
    for (let i = 0; i < 300; i++) {
      const { bytes, specs } = randomMessage(rnd, 1 + below(rnd, 20));
      const ranges: [number, number][] = [];
      reader.begin(bytes);
      while (reader.next()) ranges.push([reader.itemStart, reader.itemEnd]);
      ranges.forEach(([a, b], k) => {
        const alone = agree(bytes.subarray(a, b), `item ${k} of message ${i}`);
        expect(alone.items).toEqual([expected(specs[k])]);
      });
    }
  });

  test("a message inside a larger buffer (byteOffset ≠ 0) reads the same", () => {
    const rnd = mulberry32(SEED + 2);
    for (let i = 0; i < 200; i++) {
      const { bytes } = randomMessage(rnd, below(rnd, 10));
      const pad = 1 + below(rnd, 9);
      const big = new Uint8Array(bytes.length + 2 * pad).fill(0xc1);
      big.set(bytes, pad);
      const inner = big.subarray(pad, pad + bytes.length);
      expect(JSON.stringify(agree(inner, `padded message ${i}`))).toBe(JSON.stringify(viaReader(bytes)));
    }
  });

  test("on 25 000 mutations of valid messages (flip, truncate, insert, delete, duplicate)", () => {
    const rnd = mulberry32(SEED + 3);
    const seen = new Map<string, number>();
    const count = (k: string) => seen.set(k, (seen.get(k) ?? 0) + 1);
    for (let i = 0; i < 25_000; i++) {
      const { bytes } = randomMessage(rnd, 1 + below(rnd, 4));
      const mutated = mutate(rnd, bytes);
      const out = agree(mutated, `mutation ${i} of ${hex(bytes)}`);
      if (out.fault !== null) count(`message: ${out.fault}`);
      for (const item of out.items) count(item.startsWith("bad_") ? item : "valid item");
    }
    // The mutations reach every fault the decoder can report (else this test proves little).
    const want = ["message: malformed", "valid item", "bad_shape", "bad_id", "bad_member", "bad_line", "bad_kind", "bad_amount", "bad_ts", "bad_order_ts"];
    expect(want.filter((k) => !seen.has(k))).toEqual([]);
  }, 30_000);

  test("on inputs that used to split them (found by this test; see codec.ts)", () => {
    const utf8Hex = (s: string) => hex(utf8.encode(s));
    const cases = [
      "91d6ff00000001", // a timestamp ext as an item: a Date to @msgpack/msgpack
      "91d4ff00", // a timestamp ext of a bad size: @msgpack/msgpack threw for the whole message
      "91c400", // an empty bin as an item
      `9181a9${utf8Hex("__proto__")}01`, // @msgpack/msgpack refuses the key __proto__
      "9181c001", // a nil map key
      `919696a161019196c0c0c0c0c0c08190c0a6${utf8Hex("taobao")}a4${utf8Hex("paid")}0101`, // a nested array key
      `96a161 01 a6${utf8Hex("taobao")} a5c1b0616964 01 01`.replaceAll(" ", ""), // overlong "paid"
      `96a3c0af61 01 a6${utf8Hex("taobao")} a4${utf8Hex("paid")} 01 01`.replaceAll(" ", ""), // overlong "/" in the id
      `96a3efbbbf 01 a6${utf8Hex("taobao")} a4${utf8Hex("paid")} 01 01`.replaceAll(" ", ""), // an id that is only a BOM
      `96a3eda080 01 a6${utf8Hex("taobao")} a4${utf8Hex("paid")} 01 01`.replaceAll(" ", ""), // a UTF-16 surrogate in UTF-8
      `96a4f4908080 01 a6${utf8Hex("taobao")} a4${utf8Hex("paid")} 01 01`.replaceAll(" ", ""), // above U+10FFFF
      `96a2c3a9 01 a6${utf8Hex("taobao")} a4${utf8Hex("paid")} 01 01`.replaceAll(" ", ""), // "é": valid
      `96a2c3 01 a6${utf8Hex("taobao")} a4${utf8Hex("paid")} 01 01`.replaceAll(" ", ""), // cut short
    ];
    const outcomes = cases.map((c, i) => agree(Uint8Array.from(Buffer.from(c, "hex")), `case ${i}`));
    expect(outcomes.map((o) => o.fault ?? o.items.join(" ").replace(/^\[.*\]$/, "valid"))).toEqual([
      "bad_shape",
      "bad_shape",
      "bad_shape",
      "bad_shape",
      "bad_shape",
      "malformed",
      "bad_kind",
      "bad_id",
      "valid",
      "bad_id",
      "bad_id",
      "valid",
      "malformed",
    ]);
  });

  test("on the usual tuple (6 or 7 fields, fixstr strings), each field at and past its bounds", () => {
    // OrderReader reads this shape on a path of its own (readCanonical) and hands anything it
    // does not accept to the general one: here every field of that shape takes values on
    // both sides of what is valid, so a check the fast path lacks shows as a disagreement.
    const rnd = mulberry32(SEED + 5);
    const enc = new TextEncoder();
    const str = (b: number[]) => [0xa0 | b.length, ...b]; // fixstr: every value below is ≤ 31 bytes
    const text = (s: string) => str([...enc.encode(s)]);
    const uint = (v: number): number[] => {
      if (v <= 0x7f) return [v];
      if (v <= 0xff) return [0xcc, v];
      if (v <= 0xffff) return [0xcd, v >> 8, v & 0xff];
      return [0xce, (v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]; // v < 2^32 here
    };
    const u64 = (v: number) => {
      const b = new Uint8Array(9);
      b[0] = 0xcf;
      new DataView(b.buffer).setBigUint64(1, BigInt(v));
      return [...b];
    };
    const ids = [[], [0x61], [0xc3, 0xa9], [0xc3], [0xed, 0xa0, 0x80], [...enc.encode("x".repeat(31))], [...enc.encode("ord-17-x")]].map(str);
    const members = [[0], [1], uint(255), uint(65_536), u64(2 ** 32 + 5), u64(2 ** 53 - 1), u64(2 ** 53), [0xff]];
    const lines = ["tmall", "taobao", "hema", "TMALL", "", "tmal"].map(text);
    const kinds = ["paid", "refund", "tick", "pai", "PAID"].map(text);
    const amounts = [[0], [1], uint(99_999), u64(AMOUNT_CENTS_MAX), u64(AMOUNT_CENTS_MAX + 1), [0xd0, 0xff]];
    const tss = [[0], [5], uint(1_767_225_600_000 % 2 ** 32), u64(1_767_225_600_000), [0xc0]];
    const pick = <T>(xs: T[]): T => xs[below(rnd, xs.length)];
    const seen = new Map<string, number>();
    for (let m = 0; m < 400; m++) {
      const items: number[][] = [];
      for (let k = 0; k < 50; k++) {
        const ts = pick(tss);
        const fields = [pick(ids), pick(members), pick(lines), pick(kinds), pick(amounts), ts];
        const r = rnd();
        // orderTs: absent, nil, 0, ts itself, or past ts
        if (r < 0.8) {
          const tsValue = ts[0] === 0xc0 ? 0 : ts.length === 1 ? ts[0] : 1_767_225_600_000;
          fields.push(r < 0.2 ? [0xc0] : r < 0.4 ? [0] : r < 0.6 ? ts : u64(tsValue + 1));
        }
        items.push([0x90 | fields.length, ...fields.flat()]);
      }
      const bytes = Uint8Array.from([0xdc, 0, items.length, ...items.flat()]);
      const out = agree(bytes, `tuple message ${m}`);
      for (const item of out.items) seen.set(item.startsWith("bad_") ? item : "valid", (seen.get(item.startsWith("bad_") ? item : "valid") ?? 0) + 1);
    }
    // Every verdict occurs, the valid one often (else this proves little).
    for (const k of ["valid", "bad_id", "bad_member", "bad_line", "bad_kind", "bad_amount", "bad_ts", "bad_order_ts", "bad_shape"]) {
      expect(`${k}: ${(seen.get(k) ?? 0) > 20}`).toBe(`${k}: true`);
    }
  });

  test("on hand-picked edge cases", () => {
    const t = (text: string) => utf8.encode(text);
    const w = (build: (w: Writer) => void): Uint8Array => {
      const writer = new Writer(mulberry32(1));
      build(writer);
      return writer.bytes();
    };
    const map = (entries: [string, (w: Writer) => void][]) => (x: Writer) => {
      x.map(entries.length);
      for (const [k, v] of entries) (x.str(k), v(x));
    };
    const s = (v: string) => (x: Writer) => x.str(v);
    const n = (v: number) => (x: Writer) => x.number(v);
    const nil = (x: Writer) => x.nil();
    const order: [string, (w: Writer) => void][] = [["id", s("a")], ["member", n(1)], ["line", s("tmall")], ["kind", s("paid")], ["amount", n(1)], ["ts", n(5)]];
    const cases: [string, Uint8Array, string][] = [
      ["kind tick, then kind paid: an order without id", w(map([["kind", s("tick")], ["ts", n(1)], ["kind", s("paid")]])), "bad_id"],
      ["kind paid, then kind tick: a tick", w(map([["kind", s("paid")], ["kind", s("tick")], ["ts", n(1)]])), "tick 1"],
      ["kind tick, then kind nil", w(map([["kind", s("tick")], ["ts", n(1)], ["kind", nil]])), "bad_id"],
      ["a tick with orderTs nil", w(map([["kind", s("tick")], ["ts", n(1)], ["orderTs", nil]])), "bad_shape"],
      ["a tick with ts −0.0", Uint8Array.from(Buffer.from(`82 a4${hex(t("kind"))} a4${hex(t("tick"))} a2${hex(t("ts"))} cb8000000000000000`.replaceAll(" ", ""), "hex")), "tick 0"],
      ["a tick with ts 0.5", w(map([["kind", s("tick")], ["ts", n(0.5)]])), "bad_ts"],
      ["a repeated id: the last counts", w(map([...order, ["id", s("b")]])), '[0,1,1,1,5,-1,"b"]'],
      ["a repeated id, the last bad", w(map([...order, ["id", s("")]])), "bad_id"],
      ["orderTs nil in a map", w(map([...order, ["orderTs", nil]])), '[0,1,1,1,5,-1,"a"]'],
      ["orderTs = ts", w(map([...order, ["orderTs", n(5)]])), '[0,1,1,1,5,5,"a"]'],
      ["member −1 as a negative fixint", w(map([...order, ["member", n(-1)]])), "bad_member"],
      ["member 2^53 as uint64", Uint8Array.from(Buffer.from(`96 a161 cf0020000000000000 a5${hex(t("tmall"))} a4${hex(t("paid"))} 01 05`.replaceAll(" ", ""), "hex")), "bad_member"],
      ["amount as int64 −1", Uint8Array.from(Buffer.from(`96 a161 01 a5${hex(t("tmall"))} a4${hex(t("paid"))} d3ffffffffffffffff 05`.replaceAll(" ", ""), "hex")), "bad_amount"],
      ["ts as float32 16777216", Uint8Array.from(Buffer.from(`96 a161 01 a5${hex(t("tmall"))} a4${hex(t("paid"))} 01 ca4b800000`.replaceAll(" ", ""), "hex")), '[0,1,1,1,16777216,-1,"a"]'],
      ["a tuple whose id is bin: a batch of 6 bad items", Uint8Array.from(Buffer.from(`96 c40161 01 a5${hex(t("tmall"))} a4${hex(t("paid"))} 01 05`.replaceAll(" ", ""), "hex")), "bad_shape bad_shape bad_shape bad_shape bad_shape bad_shape"],
    ];
    for (const [what, bytes, want] of cases) {
      const out = agree(bytes, what);
      expect(`${what}: ${out.fault ?? out.items.join(" ")}`).toBe(`${what}: ${want}`);
    }
  });

  test("on ids of random bytes near UTF-8's edges (the reader's UTF-8 check is the WHATWG decoder's)", () => {
    const rnd = mulberry32(SEED + 4);
    const pool = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbb, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf4, 0xf5, 0xff];
    const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    let valid = 0;
    for (let i = 0; i < 10_000; i++) {
      const id = Uint8Array.from({ length: 1 + below(rnd, 12) }, () => pickOf(rnd, pool));
      const w = new Writer(rnd);
      w.array(6);
      w.str(id);
      w.number(7);
      w.str("tmall");
      w.str("paid");
      w.number(100);
      w.number(5);
      const out = agree(w.bytes(), `id ${hex(id)}`);
      let isUtf8 = true;
      try {
        fatal.decode(id);
      } catch {
        isUtf8 = false;
      }
      expect(out.items[0] === "bad_id").toBe(!isUtf8);
      if (isUtf8) valid++;
    }
    expect(valid).toBeGreaterThan(100);
  });

  test("batch_too_large, and 10 000 items is still a batch", () => {
    for (const n of [BATCH_ITEMS_MAX, BATCH_ITEMS_MAX + 1]) {
      const w = new Writer(mulberry32(n));
      w.array(n);
      for (let i = 0; i < n; i++) (w.map(2), w.str("kind"), w.str("tick"), w.str("ts"), w.number(i));
      const out = agree(w.bytes(), `${n} ticks`);
      expect(out.fault).toBe(n > BATCH_ITEMS_MAX ? "batch_too_large" : null);
    }
  });

  test("on 20 000 random byte strings: never throws, never stalls, always a typed answer", () => {
    const rnd = mulberry32(SEED + 5);
    const started = performance.now();
    let slowestMs = 0;
    let faults = 0;
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomBytes(rnd, i < 19_950 ? below(rnd, 120) : 65_536);
      const t0 = performance.now();
      const out = agree(bytes, `random bytes ${i}`);
      slowestMs = Math.max(slowestMs, performance.now() - t0);
      if (out.fault !== null) faults++;
    }
    expect(faults).toBeGreaterThan(1000);
    expect(slowestMs).toBeLessThan(250);
    expect(performance.now() - started).toBeLessThan(10_000);
  });

  test("hostile shapes: huge counts, deep nesting, long strings", () => {
    const deep = (n: number, leaf: number[]) => Uint8Array.from([...Array(n).fill(0x91), ...leaf]);
    const inputs = [
      Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff]),
      Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff, 0xc0]),
      Uint8Array.from([0x91, 0xdf, 0x7f, 0xff, 0xff, 0xff]),
      Uint8Array.from([0xdb, 0xff, 0xff, 0xff, 0xf0, 0x61]),
      Uint8Array.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]),
      deep(100_000, [0xc0]),
      deep(100_000, []),
      Uint8Array.from([0x91, 0x81, ...Array(50_000).fill(0x91), 0xc0, 0x01]),
      longKeyTick(1_000_000), // a 1 MB ASCII key: bad_shape, not a stack overflow
    ];
    for (const [i, bytes] of inputs.entries()) {
      const t0 = performance.now();
      agree(bytes, `hostile input ${i}`);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });
});

/** {kind: "tick", ts: 1, <a key of `n` × "k">: nil} */
function longKeyTick(n: number): Uint8Array {
  const w = new Writer(mulberry32(n));
  w.map(3);
  w.str("kind");
  w.str("tick");
  w.str("ts");
  w.number(1);
  w.str("k".repeat(n));
  w.nil();
  return w.bytes();
}

const INTERESTING = [
  0x00, 0x01, 0x7f, 0x80, 0x81, 0x87, 0x8f, 0x90, 0x91, 0x96, 0x97, 0x9f, 0xa0, 0xa4, 0xa6, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3,
  0xc4, 0xc7, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd2, 0xd3, 0xd4, 0xd6, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
  0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xff,
];

function mutate(rnd: Rnd, src: Uint8Array): Uint8Array {
  const b = Array.from(src);
  const randomByte = () => (rnd() < 0.5 ? below(rnd, 256) : pickOf(rnd, INTERESTING));
  for (let n = 1 + below(rnd, 3); n > 0; n--) {
    const at = below(rnd, b.length + 1);
    switch (below(rnd, 7)) {
      case 0:
        if (at < b.length) b[at] = randomByte();
        break;
      case 1:
        if (at < b.length) b[at] ^= 1 << below(rnd, 8);
        break;
      case 2:
        if (at < b.length) b[at] = (b[at] + (rnd() < 0.5 ? 1 : -1)) & 0xff;
        break;
      case 3:
        b.length = at;
        break;
      case 4:
        b.splice(at, 0, ...Array.from({ length: 1 + below(rnd, 4) }, randomByte));
        break;
      case 5:
        b.splice(at, 1 + below(rnd, 8));
        break;
      default: {
        const from = below(rnd, b.length + 1);
        b.splice(at, 0, ...b.slice(from, from + 1 + below(rnd, 12)));
      }
    }
  }
  return Uint8Array.from(b);
}

function randomBytes(rnd: Rnd, length: number): Uint8Array {
  const biased = rnd() < 0.5;
  return Uint8Array.from({ length }, () => (biased && rnd() < 0.5 ? pickOf(rnd, INTERESTING) : below(rnd, 256)));
}

// ---------------------------------------------------------------------------------------

describe("fingerprint of (id, kind)", () => {
  /** The fingerprint of (id, kind), read from a random message that carries it among others. */
  const fingerprint = (id: string, kind: "paid" | "refund", seed: number): string => {
    const rnd = mulberry32(seed);
    const s: Spec = {
      kind: "order",
      order: { id, member: intIn(rnd, 1, MEMBER_MAX), line: pickOf(rnd, LINES), kind, amount: 1 + below(rnd, 1e6), ts: 1e12 + below(rnd, 1e9) },
      tuple: rnd() < 0.5,
      orderTsNil: false,
    };
    const w = new Writer(rnd);
    const before = below(rnd, 3);
    w.array(before + 1);
    for (let i = 0; i < before; i++) writeSpec(w, rnd, randomSpec(rnd));
    writeSpec(w, rnd, s);
    expect(reader.begin(w.bytes())).toBeNull();
    for (let i = 0; i <= before; i++) expect(reader.next()).toBe(true);
    expect(reader.error).toBeNull();
    return `${reader.fingerprintHi}:${reader.fingerprintLo}`;
  };

  test("is stable: snapshots keep fingerprints, so these values change only with SNAPSHOT_VERSION", () => {
    // Snapshot format 2: ids hashed four bytes at a time (format 1 hashed them a byte at a time).
    expect(SNAPSHOT_VERSION).toBe(2);
    const known: [string, "paid" | "refund", number, number][] = [
      ["o-1", "paid", 2940082459, 1179933487],
      ["o-1", "refund", 2923304840, 1506732090],
      ["订单-7", "paid", 1246102894, 3373097420],
      ["订单-7", "refund", 1262880513, 618411458],
      ["x".repeat(64), "paid", 1137517062, 4067488021],
      ["été-2026-11", "refund", 4061860688, 4240008288],
    ];
    for (const [id, kind, hi, lo] of known) {
      expect(reader.begin(encode([{ id, member: 7, line: "taobao", kind, amount: 100, ts: 1 }]))).toBeNull();
      expect(reader.next()).toBe(true);
      expect(reader.error).toBeNull();
      expect([id, kind, reader.fingerprintHi, reader.fingerprintLo]).toEqual([id, kind, hi, lo]);
    }
  });

  test("differs between paid and refund, equals for the same (id, kind) in any message", () => {
    const rnd = mulberry32(SEED + 6);
    const all = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const id = randomId(rnd);
      const paid = fingerprint(id, "paid", i * 4);
      const refund = fingerprint(id, "refund", i * 4 + 1);
      expect(refund).not.toBe(paid);
      // Another member, line, amount, ts, encoding, tuple or map, position: the same print.
      expect(fingerprint(id, "paid", i * 4 + 2)).toBe(paid);
      expect(fingerprint(id, "refund", i * 4 + 3)).toBe(refund);
      all.add(`${id}\u0000paid\u0000${paid}`).add(`${id}\u0000refund\u0000${refund}`);
    }
    // No two distinct (id, kind) share a print among these.
    const prints = new Map<string, string>();
    for (const entry of all) {
      const [id, kind, print] = entry.split("\u0000");
      const other = prints.get(print);
      if (other !== undefined && other !== `${id}/${kind}`) throw new Error(`collision: ${other} and ${id}/${kind}`);
      prints.set(print, `${id}/${kind}`);
    }
  });

  test("structured ids do not collide: 400 000 sequential ids, as the load tools write them, and their refunds", () => {
    // Words of digits that differ in one or two places are where a weak word hash would fail.
    const seen = new Set<bigint>();
    const PER_MESSAGE = 1000;
    for (let m = 0; m < 200; m++) {
      const orders = [];
      for (let i = 0; i < PER_MESSAGE; i++) {
        const id = `042${String(m * PER_MESSAGE + i).padStart(16, "0")}`; // loadtest/order-bytes.ts orderIdString
        orders.push({ id, member: 7, line: "taobao", kind: "paid" as const, amount: 100, ts: 1 });
        orders.push({ id, member: 7, line: "taobao", kind: "refund" as const, amount: 100, ts: 1 });
      }
      expect(reader.begin(encodeOrders(orders))).toBeNull();
      while (reader.next()) seen.add((BigInt(reader.fingerprintHi) << 32n) | BigInt(reader.fingerprintLo));
      expect(reader.error).toBeNull();
    }
    expect(seen.size).toBe(400_000);
  });
});

// ---------------------------------------------------------------------------------------

