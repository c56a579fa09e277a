// OrderReader: reads ORDERS message bodies straight from the bytes, one item at a time,
// into plain numeric fields — no object, array or string per order.
//
// Hand-written because this is the engine's hot path: @msgpack/msgpack builds an array, a
// string per field and a number box per item, and at millions of orders per second that
// garbage costs more than the state update itself. It accepts exactly what
// codec.ts/validate.ts accept and reports the same first error code (test/proto.reader.test.ts
// checks both on random and mutated input).

import type { BadInputCode } from "./errors.ts";
import { AMOUNT_CENTS_MAX, BATCH_ITEMS_MAX, ORDER_ID_BYTES_MAX } from "./types.ts";

export const ITEM_PAID = 0;
export const ITEM_REFUND = 1;
export const ITEM_TICK = 2;

const F_ID = 0;
const F_MEMBER = 1;
const F_LINE = 2;
const F_KIND = 3;
const F_AMOUNT = 4;
const F_TS = 5;
const F_ORDER_TS = 6;
const FIELD_COUNT = 7;
const FIELD_NAMES = ["id", "member", "line", "kind", "amount", "ts", "orderTs"].map((s) => new TextEncoder().encode(s));

const ABSENT = 0;
const PRESENT = 1;
const INVALID = 2;

const TWO_POW_32 = 4294967296;
const KIND_PAID = new TextEncoder().encode("paid");
const KIND_REFUND = new TextEncoder().encode("refund");
const KIND_TICK = new TextEncoder().encode("tick");
const KIND_BAD = -1;

// ignoreBOM: a leading U+FEFF is part of the id, as it is to the object decoder.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

function bytesEqual(buf: Uint8Array, start: number, len: number, want: Uint8Array): boolean {
  if (len !== want.length) return false;
  for (let i = 0; i < len; i++) if (buf[start + i] !== want[i]) return false;
  return true;
}

/** The item kind the `len` bytes at `s` name (paid, refund or tick), or KIND_BAD. */
function kindAt(buf: Uint8Array, s: number, len: number): number {
  if (bytesEqual(buf, s, len, KIND_PAID)) return ITEM_PAID;
  if (bytesEqual(buf, s, len, KIND_REFUND)) return ITEM_REFUND;
  if (bytesEqual(buf, s, len, KIND_TICK)) return ITEM_TICK;
  return KIND_BAD;
}

export class OrderReader {
  private buf: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.buf.buffer);
  private pos = 0;
  private end = 0;
  private itemsLeft = 0;
  private readonly lineNames: Uint8Array[];
  private readonly state = new Uint8Array(FIELD_COUNT);

  /** Items in the current message. */
  count = 0;
  /** Index of the current item. */
  index = -1;
  // The current item: valid when `error` is null.
  error: BadInputCode | null = null;
  kind = ITEM_PAID;
  member = 0;
  line = 0;
  amount = 0;
  ts = 0;
  /** −1 when absent. */
  orderTs = -1;
  idStart = 0;
  idLength = 0;
  /** 64-bit fingerprint of (id bytes, kind), as two 32-bit halves; see `fingerprint`. */
  fingerprintHi = 0;
  fingerprintLo = 0;
  /** Byte range of the current item inside the message (for dead-lettering it alone). */
  itemStart = 0;
  itemEnd = 0;

  constructor(lines: readonly string[]) {
    this.lineNames = lines.map((l) => new TextEncoder().encode(l));
  }

  /** Starts on a message body; returns a whole-message fault, or null. */
  begin(buf: Uint8Array): BadInputCode | null {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.end = buf.length;
    this.index = -1;
    this.count = 0;
    this.itemsLeft = 0;
    if (skipValue(buf, 0, this.end) !== this.end) return "malformed"; // truncated, or trailing bytes
    const b = buf[0];
    let n = -1;
    let p = 1;
    if (b >= 0x90 && b <= 0x9f) n = b & 0x0f;
    else if (b === 0xdc) (n = this.view.getUint16(1)), (p = 3);
    else if (b === 0xdd) (n = this.view.getUint32(1)), (p = 5);
    const first = n > 0 ? buf[p] : 0;
    const firstIsString = (first >= 0xa0 && first <= 0xbf) || (first >= 0xd9 && first <= 0xdb);
    if (n >= 0 && !(n > 0 && firstIsString)) {
      if (n > BATCH_ITEMS_MAX) return "batch_too_large";
      this.count = this.itemsLeft = n;
      this.pos = p;
    } else {
      this.count = this.itemsLeft = 1;
      this.pos = 0;
    }
    return null;
  }

  /** Advances to the next item; false when the message has no more. */
  next(): boolean {
    if (this.itemsLeft === 0) return false;
    this.itemsLeft--;
    this.index++;
    const start = this.pos;
    this.itemStart = start;
    // readItem walks the whole item and sets itemEnd; begin() proved the message whole.
    this.error = this.readItem(start);
    this.pos = this.itemEnd;
    return true;
  }

  /** The current item's id as a string (allocates; off the hot path). */
  idString(): string {
    return idStringAt(this.buf, this.idStart, this.idLength);
  }

  private readItem(start: number): BadInputCode | null {
    const buf = this.buf;
    const b = buf[start];
    const state = this.state;
    // Seven stores beat a fill() call per item.
    state[0] = state[1] = state[2] = state[3] = state[4] = state[5] = state[6] = ABSENT;
    this.orderTs = -1;
    let kindCode = KIND_BAD;
    let p = start + 1;
    if ((b === 0x96 || b === 0x97) && this.readCanonical(start + 1, b === 0x97)) return null;
    if ((b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd) {
      let n = b & 0x0f;
      if (b === 0xdc) (n = this.view.getUint16(p)), (p += 2);
      else if (b === 0xdd) (n = this.view.getUint32(p)), (p += 4);
      if (n !== 6 && n !== 7) {
        this.itemEnd = skipValue(buf, start, this.end);
        return "bad_shape";
      }
      for (let f = 0; f < n; f++) {
        p = this.readField(f, p);
        if (f === F_KIND) kindCode = state[F_KIND] === PRESENT ? this.kind : KIND_BAD;
      }
      this.itemEnd = p;
      if (kindCode === ITEM_TICK) return "bad_shape"; // a tick is a map {kind, ts}
    } else if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) {
      let n = b & 0x0f;
      if (b === 0xde) (n = this.view.getUint16(p)), (p += 2);
      else if (b === 0xdf) (n = this.view.getUint32(p)), (p += 4);
      let unknownKey = false;
      let keysSeen = 0; // bit f: field f's key is present, even with a nil value
      for (let i = 0; i < n; i++) {
        const field = this.keyField(p);
        p = skipValue(buf, p, this.end);
        if (field < 0) {
          unknownKey = true;
          p = skipValue(buf, p, this.end);
        } else {
          keysSeen |= 1 << field;
          p = this.readField(field, p);
          if (field === F_KIND) kindCode = state[F_KIND] === PRESENT ? this.kind : KIND_BAD;
        }
      }
      this.itemEnd = p;
      if (kindCode === ITEM_TICK) {
        if (unknownKey || (keysSeen & ~((1 << F_KIND) | (1 << F_TS))) !== 0) {
          return "bad_shape";
        }
        if (state[F_TS] !== PRESENT) return "bad_ts";
        this.kind = ITEM_TICK;
        return null;
      }
      if (unknownKey) return "bad_shape";
    } else {
      this.itemEnd = skipValue(buf, start, this.end);
      return "bad_shape";
    }
    // The order of these checks is validateOrder's, so both report the same first fault.
    if (state[F_ID] !== PRESENT) return "bad_id";
    if (state[F_MEMBER] !== PRESENT) return "bad_member";
    if (state[F_LINE] !== PRESENT) return "bad_line";
    if (state[F_KIND] !== PRESENT || kindCode === ITEM_TICK) return "bad_kind";
    if (state[F_AMOUNT] !== PRESENT) return "bad_amount";
    if (state[F_TS] !== PRESENT) return "bad_ts";
    if (state[F_ORDER_TS] === INVALID) return "bad_order_ts";
    if (state[F_ORDER_TS] === PRESENT && this.orderTs > this.ts) return "bad_order_ts";
    this.kind = kindCode;
    this.fingerprint();
    return null;
  }

  /**
   * The usual item, read straight through: [id, member, line, kind, amount, ts(, orderTs)]
   * with fixstr strings, non-negative integers and a paid or refund kind. True when the item
   * is that and valid, with every field set as readField would set it; false for anything
   * else (an odd encoding or any fault), and the general path then reads the item from its
   * start, so errors and unusual encodings are judged in one place only. ~30 % of decoding
   * was readField's per-field dispatch and bookkeeping.
   */
  private readCanonical(p: number, withOrderTs: boolean): boolean {
    const buf = this.buf;
    // id: a fixstr of 1 … 31 bytes (≤ ORDER_ID_BYTES_MAX), valid UTF-8
    let b = buf[p];
    if (b < 0xa1 || b > 0xbf) return false;
    const idLength = b & 0x1f;
    const idStart = p + 1;
    if (!this.hashId(idStart, idLength)) return false;
    p = idStart + idLength;
    // member ≥ 1
    const member = this.readInteger(p);
    if (member < 1) return false;
    p = this.intEnd;
    // line: one of the configured names
    b = buf[p];
    if (b < 0xa0 || b > 0xbf) return false;
    let len = b & 0x1f;
    const line = this.lineAt(p + 1, len);
    if (line < 0) return false;
    p += 1 + len;
    // kind: paid or refund (a tick is a map; the general path says so)
    b = buf[p];
    if (b < 0xa0 || b > 0xbf) return false;
    len = b & 0x1f;
    const kind = kindAt(buf, p + 1, len);
    if (kind !== ITEM_PAID && kind !== ITEM_REFUND) return false;
    p += 1 + len;
    const amount = this.readInteger(p);
    if (amount < 1 || amount > AMOUNT_CENTS_MAX) return false;
    p = this.intEnd;
    const ts = this.readInteger(p);
    if (ts < 0) return false;
    p = this.intEnd;
    let orderTs = -1;
    if (withOrderTs) {
      if (buf[p] === 0xc0) p++;
      else {
        orderTs = this.readInteger(p);
        if (orderTs < 0 || orderTs > ts) return false;
        p = this.intEnd;
      }
    }
    this.idStart = idStart;
    this.idLength = idLength;
    this.member = member;
    this.line = line;
    this.kind = kind;
    this.amount = amount;
    this.ts = ts;
    this.orderTs = orderTs;
    this.itemEnd = p;
    this.fingerprint();
    return true;
  }

  /** Which configured line the `len` bytes at `s` name, or −1. */
  private lineAt(s: number, len: number): number {
    const names = this.lineNames;
    for (let i = 0; i < names.length; i++) if (bytesEqual(this.buf, s, len, names[i])) return i;
    return -1;
  }

  /** Which field a map key names, or −1. */
  private keyField(p: number): number {
    const buf = this.buf;
    const b = buf[p];
    let len: number;
    let s = p + 1;
    if (b >= 0xa0 && b <= 0xbf) len = b & 0x1f;
    else if (b === 0xd9) (len = buf[p + 1]), (s = p + 2);
    else if (b === 0xda) (len = this.view.getUint16(p + 1)), (s = p + 3);
    else if (b === 0xdb) (len = this.view.getUint32(p + 1)), (s = p + 5);
    else return -1; // a non-string key names no field
    for (let f = 0; f < FIELD_COUNT; f++) if (bytesEqual(buf, s, len, FIELD_NAMES[f])) return f;
    return -1;
  }

  /** Reads the value at `p` as field `f`, sets its state; returns the position after it. */
  private readField(f: number, p: number): number {
    const buf = this.buf;
    const state = this.state;
    if (f === F_ID || f === F_LINE || f === F_KIND) {
      const b = buf[p];
      let len: number;
      let s: number;
      if (b >= 0xa0 && b <= 0xbf) (len = b & 0x1f), (s = p + 1);
      else if (b === 0xd9) (len = buf[p + 1]), (s = p + 2);
      else if (b === 0xda) (len = this.view.getUint16(p + 1)), (s = p + 3);
      else if (b === 0xdb) (len = this.view.getUint32(p + 1)), (s = p + 5);
      else {
        state[f] = INVALID;
        return skipValue(buf, p, this.end);
      }
      if (f === F_ID) {
        state[f] = len > 0 && len <= ORDER_ID_BYTES_MAX && this.hashId(s, len) ? PRESENT : INVALID;
        this.idStart = s;
        this.idLength = len;
      } else if (f === F_LINE) {
        const line = this.lineAt(s, len);
        state[f] = line < 0 ? INVALID : PRESENT;
        if (line >= 0) this.line = line;
      } else {
        const kind = kindAt(buf, s, len);
        state[f] = kind === KIND_BAD ? INVALID : PRESENT;
        if (kind !== KIND_BAD) this.kind = kind;
      }
      return s + len;
    }
    if (f === F_ORDER_TS && buf[p] === 0xc0) return p + 1; // nil: absent
    const v = this.readInteger(p);
    let ok: boolean;
    if (f === F_MEMBER) ok = v >= 1;
    else if (f === F_AMOUNT) ok = v >= 1 && v <= AMOUNT_CENTS_MAX;
    else ok = v >= 0;
    state[f] = ok ? PRESENT : INVALID;
    if (ok) {
      if (f === F_MEMBER) this.member = v;
      else if (f === F_AMOUNT) this.amount = v;
      else if (f === F_TS) this.ts = v;
      else this.orderTs = v;
    }
    return this.intEnd >= 0 ? this.intEnd : skipValue(buf, p, this.end);
  }

  /** Set by readInteger: the position after a number it read, or −1 for a non-number. */
  private intEnd = -1;

  /** An integral number 0 … 2^53−1 at `p`, or −1 for anything else (negatives included). */
  private readInteger(p: number): number {
    const buf = this.buf;
    const view = this.view;
    const b = buf[p];
    if (b <= 0x7f) {
      this.intEnd = p + 1;
      return b;
    }
    switch (b) {
      case 0xcc:
        this.intEnd = p + 2;
        return buf[p + 1];
      case 0xcd:
        this.intEnd = p + 3;
        return view.getUint16(p + 1);
      case 0xce:
        this.intEnd = p + 5;
        return view.getUint32(p + 1);
      case 0xcf: {
        this.intEnd = p + 9;
        const hi = view.getUint32(p + 1);
        return hi < 0x200000 ? hi * TWO_POW_32 + view.getUint32(p + 5) : -1;
      }
      case 0xd0:
        this.intEnd = p + 2;
        return view.getInt8(p + 1) >= 0 ? view.getInt8(p + 1) : -1;
      case 0xd1:
        this.intEnd = p + 3;
        return view.getInt16(p + 1) >= 0 ? view.getInt16(p + 1) : -1;
      case 0xd2:
        this.intEnd = p + 5;
        return view.getInt32(p + 1) >= 0 ? view.getInt32(p + 1) : -1;
      case 0xd3: {
        this.intEnd = p + 9;
        const hi = view.getInt32(p + 1);
        return hi >= 0 && hi < 0x200000 ? hi * TWO_POW_32 + view.getUint32(p + 5) : -1;
      }
      case 0xca:
        this.intEnd = p + 5;
        return integral(view.getFloat32(p + 1));
      case 0xcb:
        this.intEnd = p + 9;
        return integral(view.getFloat64(p + 1));
      default:
        this.intEnd = -1;
        return -1;
    }
  }

  /** The id bytes' part of the fingerprint (hashId), before the kind is mixed in. */
  private idHashA = 0;
  private idHashB = 0;

  /**
   * Hashes the id's bytes for the fingerprint and checks they are UTF-8, in one pass over
   * them: an id of ASCII bytes (the usual one) is read once, not once per job. Four bytes
   * at a time (little-endian words, then the last 0–3 bytes one by one): ~10 ns for a
   * 19-byte id against ~25 one byte at a time, ~+2.5 % on a restart replay (two alternated
   * pairs of three runs).
   * Each step is a bijection of the state for a given word, so two ids of one length that
   * differ in one word never collide; the two hashes differ in multiplier and shift.
   * Snapshots keep fingerprints: changing this changes SNAPSHOT_VERSION (format.ts).
   */
  private hashId(start: number, len: number): boolean {
    const buf = this.buf;
    const view = this.view;
    let a = 0x811c9dc5 ^ len;
    let b = 0x5bd1e995 ^ len;
    let high = 0;
    const end4 = start + (len & ~3);
    let i = start;
    for (; i < end4; i += 4) {
      const w = view.getUint32(i, true);
      high |= w;
      a = Math.imul(a ^ w, 0x01000193);
      a ^= a >>> 15;
      b = Math.imul(b ^ w, 0x5bd1e995);
      b ^= b >>> 13;
    }
    const end = start + len;
    for (; i < end; i++) {
      const c = buf[i];
      high |= c;
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    this.idHashA = a;
    this.idHashB = b;
    return (high & 0x80808080) === 0 || isUtf8(buf, start, len);
  }

  /**
   * Two independent 32-bit hashes (FNV-1a and a Murmur-style mix) of the id bytes and kind:
   * hashId's two hashes of the bytes, with the kind mixed into each.
   */
  private fingerprint(): void {
    const a = Math.imul(this.idHashA ^ this.kind, 0x01000193);
    const b = Math.imul(this.idHashB ^ (this.kind + 1), 0x5bd1e995);
    this.fingerprintHi = a >>> 0;
    this.fingerprintLo = (b ^ (b >>> 13)) >>> 0;
  }
}

/**
 * Whether `len` bytes at `start` are well-formed UTF-8, exactly as the WHATWG decoder with
 * `fatal` judges it (no overlongs, no surrogates, nothing above U+10FFFF, no cut sequence).
 * An id that is not is bad_id: it could not be echoed as a `cause` string byte for byte.
 */
function isUtf8(buf: Uint8Array, start: number, len: number): boolean {
  const end = start + len;
  let i = start;
  while (i < end) {
    const b = buf[i];
    if (b < 0x80) {
      i++;
      continue;
    }
    let more: number;
    let lo = 0x80; // the second byte's range; later bytes are 80…BF
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) more = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      more = 2;
      if (b === 0xe0) lo = 0xa0; // overlong
      else if (b === 0xed) hi = 0x9f; // surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      more = 3;
      if (b === 0xf0) lo = 0x90; // overlong
      else if (b === 0xf4) hi = 0x8f; // above U+10FFFF
    } else return false;
    if (i + more >= end) return false; // cut short
    const c = buf[i + 1];
    if (c < lo || c > hi) return false;
    for (let k = 2; k <= more; k++) if (buf[i + k] < 0x80 || buf[i + k] > 0xbf) return false;
    i += 1 + more;
  }
  return true;
}

/** The id at [start, start + length) of a message body as a string (allocates; off the hot path). */
export function idStringAt(buf: Uint8Array, start: number, length: number): string {
  return utf8.decode(buf.subarray(start, start + length));
}

function integral(x: number): number {
  return Number.isInteger(x) && x >= 0 && x <= Number.MAX_SAFE_INTEGER ? x : -1;
}

/**
 * The position after the msgpack value at `p`, or −1 when it runs past `end` or uses a
 * reserved byte. Iterative (a count of values still to skip), so nesting cannot blow the stack.
 */
export function skipValue(buf: Uint8Array, p: number, end: number): number {
  let pending = 1;
  while (pending > 0) {
    if (p >= end) return -1;
    pending--;
    const b = buf[p];
    if (b <= 0x7f || b >= 0xe0) p += 1;
    else if (b <= 0x8f) (pending += 2 * (b & 0x0f)), (p += 1);
    else if (b <= 0x9f) (pending += b & 0x0f), (p += 1);
    else if (b <= 0xbf) p += 1 + (b & 0x1f);
    else {
      // Bounds are checked inline: a closure here (`need(n)`) is allocated per call in any
      // tier that cannot sink it, i.e. garbage per str8/bin/ext/array16/map16 on the hot path.
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          p += 1;
          break;
        case 0xc4:
        case 0xd9:
          if (p + 2 > end) return -1;
          p += 2 + buf[p + 1];
          break;
        case 0xc5:
        case 0xda:
          if (p + 3 > end) return -1;
          p += 3 + ((buf[p + 1] << 8) | buf[p + 2]);
          break;
        case 0xc6:
        case 0xdb:
          if (p + 5 > end) return -1;
          p += 5 + u32(buf, p + 1);
          break;
        case 0xc7:
          if (p + 2 > end) return -1;
          p += 3 + buf[p + 1];
          break;
        case 0xc8:
          if (p + 3 > end) return -1;
          p += 4 + ((buf[p + 1] << 8) | buf[p + 2]);
          break;
        case 0xc9:
          if (p + 5 > end) return -1;
          p += 6 + u32(buf, p + 1);
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          p += 5;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          p += 9;
          break;
        case 0xcc:
        case 0xd0:
          p += 2;
          break;
        case 0xcd:
        case 0xd1:
          p += 3;
          break;
        case 0xd4:
          p += 3;
          break;
        case 0xd5:
          p += 4;
          break;
        case 0xd6:
          p += 6;
          break;
        case 0xd7:
          p += 10;
          break;
        case 0xd8:
          p += 18;
          break;
        case 0xdc:
          if (p + 3 > end) return -1;
          pending += (buf[p + 1] << 8) | buf[p + 2];
          p += 3;
          break;
        case 0xdd:
          if (p + 5 > end) return -1;
          pending += u32(buf, p + 1);
          p += 5;
          break;
        case 0xde:
          if (p + 3 > end) return -1;
          pending += 2 * ((buf[p + 1] << 8) | buf[p + 2]);
          p += 3;
          break;
        case 0xdf:
          if (p + 5 > end) return -1;
          pending += 2 * u32(buf, p + 1);
          p += 5;
          break;
        default:
          return -1; // 0xc1 is never used
      }
    }
    // A container claiming more values than bytes left is truncated: fail early rather
    // than counting down billions of phantom values.
    if (pending > end - p) return -1;
  }
  return p <= end ? p : -1;
}

function u32(buf: Uint8Array, p: number): number {
  return ((buf[p] << 24) | (buf[p + 1] << 16) | (buf[p + 2] << 8) | buf[p + 3]) >>> 0;
}
