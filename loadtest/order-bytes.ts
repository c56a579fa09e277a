// Hand-written msgpack for ORDERS bodies: the tuple form of proto/codec.ts,
// `[id, member, line, kind, amount, ts]` plus `orderTs` when present, in an array per message.
//
// Written by hand because the benchmarks pre-encode tens of millions of orders, and
// @msgpack/msgpack builds an array and a string per order to do it. The bytes are the ones
// @msgpack/msgpack writes for the same orders (shortest integer and string forms);
// test/loadtest.population.test.ts checks that against proto's encodeOrders and decodeOrders.

const TWO_POW_32 = 4294967296;

export const KIND_PAID_BYTES = asciiString("paid");
export const KIND_REFUND_BYTES = asciiString("refund");

/** Order ids: a 3-digit tag (from the generator's seed) and a 16-digit sequence: 19 ASCII digits. */
export const ORDER_ID_DIGITS = 19;
const ID_SEQUENCE_DIGITS = 16;
export const ID_SEQUENCE_MAX = 10 ** ID_SEQUENCE_DIGITS - 1;

/** A msgpack string (header and bytes) for an ASCII text of at most 255 bytes. */
export function asciiString(text: string): Uint8Array {
  if (!/^[\x00-\x7f]{0,255}$/.test(text)) throw new RangeError(`not a short ASCII string: ${JSON.stringify(text)}`);
  const n = text.length;
  const out = new Uint8Array(n + (n < 32 ? 1 : 2));
  let p = 0;
  if (n < 32) out[p++] = 0xa0 | n;
  else (out[p++] = 0xd9), (out[p++] = n);
  for (let i = 0; i < n; i++) out[p++] = text.charCodeAt(i);
  return out;
}

/** Largest encoding of one order: fixarray, id, member, line, kind, amount, ts, orderTs. */
export function orderBytesMax(lineBytesMax: number): number {
  return 1 + (1 + ORDER_ID_DIGITS) + 9 + lineBytesMax + KIND_REFUND_BYTES.length + 9 + 9 + 9;
}

/** The id string of (tag, sequence), as writeOrder writes it. */
export function orderIdString(tag: number, sequence: number): string {
  return String(tag).padStart(3, "0") + String(sequence).padStart(ID_SEQUENCE_DIGITS, "0");
}

/** Writes a non-negative integer ≤ 2^53 − 1 in its shortest msgpack form; returns the next position. */
export function writeUint(buf: Uint8Array, p: number, v: number): number {
  if (v < 0x80) {
    buf[p] = v;
    return p + 1;
  }
  if (v < 0x100) {
    buf[p] = 0xcc;
    buf[p + 1] = v;
    return p + 2;
  }
  if (v < 0x10000) {
    buf[p] = 0xcd;
    buf[p + 1] = v >>> 8;
    buf[p + 2] = v & 0xff;
    return p + 3;
  }
  if (v < TWO_POW_32) {
    buf[p] = 0xce;
    writeU32(buf, p + 1, v);
    return p + 5;
  }
  buf[p] = 0xcf;
  writeU32(buf, p + 1, Math.floor(v / TWO_POW_32));
  writeU32(buf, p + 5, v >>> 0);
  return p + 9;
}

function writeU32(buf: Uint8Array, p: number, v: number): void {
  buf[p] = v >>> 24;
  buf[p + 1] = (v >>> 16) & 0xff;
  buf[p + 2] = (v >>> 8) & 0xff;
  buf[p + 3] = v & 0xff;
}

/**
 * Writes one order tuple at `p`; returns the next position. `line` and `kind` are pre-encoded
 * msgpack strings; `orderTs` < 0 means absent (a 6-tuple).
 */
export function writeOrder(
  buf: Uint8Array,
  p: number,
  idTag: number,
  idSequence: number,
  member: number,
  line: Uint8Array,
  kind: Uint8Array,
  amount: number,
  ts: number,
  orderTs: number,
): number {
  buf[p++] = orderTs < 0 ? 0x96 : 0x97;
  p = writeIdDigits(buf, p, idTag, idSequence);
  p = writeUint(buf, p, member);
  buf.set(line, p);
  p += line.length;
  buf.set(kind, p);
  p += kind.length;
  p = writeUint(buf, p, amount);
  p = writeUint(buf, p, ts);
  if (orderTs >= 0) p = writeUint(buf, p, orderTs);
  return p;
}

/** The id as a fixstr of 19 digits, written right to left. */
function writeIdDigits(buf: Uint8Array, p: number, tag: number, sequence: number): number {
  buf[p] = 0xa0 | ORDER_ID_DIGITS;
  let end = p + ORDER_ID_DIGITS;
  // The 16-digit sequence in two 8-digit halves: each half fits a 32-bit integer, so the
  // divisions stay exact and cheap.
  let lo = sequence % 1e8;
  let hi = (sequence - lo) / 1e8;
  for (let i = 0; i < 8; i++, lo = (lo - (lo % 10)) / 10) buf[end--] = 0x30 + (lo % 10);
  for (let i = 0; i < 8; i++, hi = (hi - (hi % 10)) / 10) buf[end--] = 0x30 + (hi % 10);
  for (let i = 0; i < 3; i++, tag = (tag - (tag % 10)) / 10) buf[end--] = 0x30 + (tag % 10);
  return p + 1 + ORDER_ID_DIGITS;
}
