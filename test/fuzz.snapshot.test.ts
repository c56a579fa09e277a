// Fuzzing the snapshot decoder: random bytes, every truncation, thousands of flips, insertions
// and deletions of valid snapshots, and crafted files whose CRC passes but whose header or
// section lengths lie. decodeSnapshot either returns (only for intact bytes, or bytes crafted
// to pass the CRC) or throws SnapshotError — never another error, never slowly — and
// PartitionState.fromParts accepts whatever it returns.
// FUZZ_SEED=<n> runs another seed (printed with every failure).

import { describe, expect, test } from "bun:test";
import { applyMessage } from "../engine/apply-message.ts";
import { loadConfig } from "../engine/config.ts";
import { memberView } from "../engine/member-view.ts";
import { configHash, decodeSnapshot, encodeSnapshot, SnapshotError, type StateParts } from "../engine/snapshot/format.ts";
import { PartitionState } from "../engine/state/partition-state.ts";
import { OrderGenerator } from "../loadtest/population.ts";
import { OrderReader } from "../proto/index.ts";
import { intBetween, mulberry32 } from "./harness/prng.ts";

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed5) >>> 0;
const config = loadConfig({ partitions: 4 });
const EXPECT = { partition: 1, configHash: configHash(config) };
/** One decode of a few KiB takes microseconds; this much means a runaway loop. */
const DECODE_MS_MAX = 250;
/** Wall-clock bound of each randomised loop (the count bound comes first on a healthy run). */
const LOOP_MS_MAX = 4_000;

/** Partition 1's state after `messageCount` messages of a small population. */
function stateAfter(messageCount: number, members: number): PartitionState {
  const gen = new OrderGenerator({ seed: 11, members, ratePerSec: 0.02, startTs: Date.UTC(2025, 0, 1) });
  const msgs = gen.fillPartitionBatches(messageCount * 8, 4, 8)[1].slice(0, messageCount);
  const state = new PartitionState(config, 1);
  const reader = new OrderReader(config.lineNames);
  for (const m of msgs) applyMessage(state, reader, m, 4e12);
  return state;
}

function snapshotOf(state: PartitionState, parts: StateParts = state.exportParts(), over: Record<string, unknown> = {}): Uint8Array {
  const meta = {
    partition: 1,
    partitions: 4,
    configHash: configHash(config),
    lastSeq: 77,
    clock: state.clock,
    memberCount: parts.memberCount,
    freeCells: parts.cells.freeCells,
    createdAtMs: 0,
    ...over,
  };
  return encodeSnapshot(meta, parts);
}

/** Re-computes the trailing CRC, so a tampered file passes the checksum. */
function withCrc(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const end = out.length - 4;
  new DataView(out.buffer).setUint32(end, Bun.hash.crc32(out.subarray(0, end)), true);
  return out;
}

type Outcome = { ok: true; parts: StateParts } | { ok: false; err: SnapshotError };

/** decodeSnapshot, time-bound; anything but SnapshotError fails the test with the seed and input. */
function decode(bytes: Uint8Array, what: string): Outcome {
  const start = performance.now();
  let outcome: Outcome;
  try {
    outcome = { ok: true, parts: decodeSnapshot(bytes, EXPECT).parts };
  } catch (err) {
    if (!(err instanceof SnapshotError)) {
      throw new Error(
        `seed ${SEED}: ${what}: decodeSnapshot threw ${(err as Error)?.name}: ${(err as Error)?.message} ` +
          `for ${bytes.length} bytes starting ${Buffer.from(bytes.subarray(0, 48)).toString("hex")}`,
      );
    }
    outcome = { ok: false, err };
  }
  const ms = performance.now() - start;
  if (ms > DECODE_MS_MAX) throw new Error(`seed ${SEED}: ${what}: decodeSnapshot took ${ms.toFixed(1)} ms on ${bytes.length} bytes`);
  if (outcome.ok) {
    try {
      const state = PartitionState.fromParts(config, 1, outcome.parts);
      // A restored state answers reads without throwing, whatever the numbers in it are.
      for (let i = 0; i < Math.min(state.memberCount, 8); i++) memberView(state, state.ids[i], 0);
    } catch (err) {
      throw new Error(`seed ${SEED}: ${what}: fromParts threw ${(err as Error).name}: ${(err as Error).message} for what decodeSnapshot returned`);
    }
  }
  return outcome;
}

const expectRefused = (bytes: Uint8Array, what: string, code?: SnapshotError["code"]): void => {
  const r = decode(bytes, what);
  if (r.ok) throw new Error(`seed ${SEED}: ${what}: decodeSnapshot accepted damaged bytes`);
  if (code !== undefined && r.err.code !== code) {
    throw new Error(`seed ${SEED}: ${what}: refused with ${r.err.code} (${r.err.message}), expected ${code}`);
  }
};

/** Runs `body(i)` up to `count` times or until LOOP_MS_MAX; returns how many ran. */
function bounded(count: number, body: (i: number) => void): number {
  const deadline = performance.now() + LOOP_MS_MAX;
  let i = 0;
  for (; i < count && performance.now() < deadline; i++) body(i);
  return i;
}

function sectionOffsets(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = (12 + view.getUint32(8, true) + 7) & ~7;
  const out: number[] = [];
  for (let s = 0; s < 12; s++) {
    out.push(at);
    at += 8 + ((view.getUint32(at, true) + 7) & ~7);
  }
  return out;
}

describe("decodeSnapshot under fuzzing", () => {
  const small = stateAfter(6, 40);
  const smallBytes = snapshotOf(small);
  const big = stateAfter(120, 400);
  const bigBytes = snapshotOf(big);
  const emptyBytes = snapshotOf(new PartitionState(config, 1));

  test("the inputs are what they claim: small and big snapshots that decode", () => {
    expect(small.memberCount).toBeGreaterThan(3);
    expect(big.memberCount).toBeGreaterThan(50);
    expect(smallBytes.length).toBeLessThan(4096);
    for (const b of [smallBytes, bigBytes, emptyBytes]) expect(decode(b, "intact").ok).toBe(true);
  });

  test("random bytes (with and without the magic, with and without a valid CRC) are refused", () => {
    const rnd = mulberry32(SEED);
    const magic = smallBytes.subarray(0, 8);
    const ran = bounded(5000, (i) => {
      const len = i % 5 === 0 ? intBetween(rnd, 0, 24) : intBetween(rnd, 0, 2048);
      let b: Uint8Array = new Uint8Array(len);
      for (let k = 0; k < len; k++) b[k] = Math.floor(rnd() * 256);
      if (i % 2 === 1 && len >= 8) b.set(magic, 0);
      if (i % 4 === 3 && len >= 16) b = withCrc(b);
      const r = decode(b, `random bytes #${i}`);
      // Random bytes that pass magic and CRC could in theory describe a snapshot; they would
      // still have to name partition 1 and the right config hash in a JSON header.
      expect(r.ok).toBe(false);
    });
    expect(ran).toBeGreaterThan(500);
  });

  test("every truncation of a small snapshot is refused", () => {
    for (let len = 0; len < smallBytes.length; len++) {
      expectRefused(smallBytes.subarray(0, len), `truncated to ${len} of ${smallBytes.length}`);
      // A truncation whose CRC is made to pass again lies about its sections instead.
      if (len >= 16) expectRefused(withCrc(smallBytes.slice(0, len)), `truncated to ${len}, CRC re-computed`);
    }
    // An appended tail is refused too: the CRC is read from the last four bytes.
    expectRefused(new Uint8Array([...smallBytes, 0, 0, 0, 0]), "four bytes appended", "checksum");
  });

  test("random flips, insertions and deletions of valid snapshots are caught (by the CRC where it covers them)", () => {
    const rnd = mulberry32(SEED ^ 0x9e3779b9);
    const crcCovered = { small: smallBytes.length - 4, big: bigBytes.length - 4 };
    let flipsInCovered = 0;
    const ran = bounded(20_000, (i) => {
      const useBig = i % 3 === 0;
      const src = useBig ? bigBytes : smallBytes;
      const kind = i % 3 === 0 ? "flip" : i % 3 === 1 ? "insert" : "delete";
      let b: Uint8Array;
      let what: string;
      if (kind === "flip") {
        b = src.slice();
        const flips = intBetween(rnd, 1, 4);
        const at: number[] = [];
        for (let f = 0; f < flips; f++) {
          const pos = intBetween(rnd, 0, b.length - 1);
          b[pos] ^= 1 << intBetween(rnd, 0, 7);
          at.push(pos);
        }
        if (b.every((x, k) => x === src[k])) return; // two flips of one bit undid each other
        what = `flips at ${at.join(",")}`;
        // Every byte before the CRC is covered by it: flipped there, the checksum (or the magic
        // and version read before it) must refuse the file.
        if (at.every((pos) => pos < (useBig ? crcCovered.big : crcCovered.small) && pos >= 8)) {
          flipsInCovered++;
          expectRefused(b, what, "checksum");
          return;
        }
      } else if (kind === "insert") {
        const pos = intBetween(rnd, 0, src.length);
        const extra = Uint8Array.from({ length: intBetween(rnd, 1, 64) }, () => Math.floor(rnd() * 256));
        b = new Uint8Array([...src.subarray(0, pos), ...extra, ...src.subarray(pos)]);
        what = `${extra.length} bytes inserted at ${pos}`;
      } else {
        const pos = intBetween(rnd, 0, src.length - 1);
        const n = intBetween(rnd, 1, Math.min(64, src.length - pos));
        b = new Uint8Array([...src.subarray(0, pos), ...src.subarray(pos + n)]);
        what = `${n} bytes deleted at ${pos}`;
      }
      expectRefused(b, what);
    });
    expect(ran).toBeGreaterThan(1000);
    expect(flipsInCovered).toBeGreaterThan(200);
  });

  test("tampered files whose CRC is re-computed: refused with SnapshotError or decoded into a state fromParts accepts", () => {
    const rnd = mulberry32(SEED ^ 0x7f4a7c15);
    let accepted = 0;
    const ran = bounded(10_000, (i) => {
      const src = i % 2 === 0 ? smallBytes : bigBytes;
      const b = src.slice();
      const end = b.length - 4;
      const flips = intBetween(rnd, 1, 6);
      for (let f = 0; f < flips; f++) {
        // Half of the flips land in the first 256 bytes: the header and the first section lengths.
        const pos = rnd() < 0.5 ? intBetween(rnd, 8, Math.min(end, 256) - 1) : intBetween(rnd, 8, end - 1);
        b[pos] = rnd() < 0.5 ? b[pos] ^ (1 << intBetween(rnd, 0, 7)) : Math.floor(rnd() * 256);
      }
      if (decode(withCrc(b), `tampered #${i}, CRC re-computed`).ok) accepted++;
    });
    expect(ran).toBeGreaterThan(1000);
    // Flips inside section data keep the file well-formed: some must get through to fromParts.
    expect(accepted).toBeGreaterThan(10);
  });
});

describe("decodeSnapshot on crafted files whose CRC passes", () => {
  const state = stateAfter(30, 200);
  const bytes = snapshotOf(state);
  const view = () => new DataView(bytes.buffer.slice(0), bytes.byteOffset, bytes.byteLength);

  test("a section length that lies (longer, shorter, odd, huge, zero) is torn, not a RangeError", () => {
    const offsets = sectionOffsets(bytes);
    for (const [s, at] of offsets.entries()) {
      const length = view().getUint32(at, true);
      for (const lie of [length + 8, length + 1, length - 1, length - 8, 0, 0x7fffffff, 0xffffffff, bytes.length]) {
        if (lie === length || lie < 0) continue;
        const b = bytes.slice();
        new DataView(b.buffer).setUint32(at, lie >>> 0, true);
        expectRefused(withCrc(b), `section ${s} length ${length} → ${lie}`, "torn");
      }
    }
  });

  test("a header length that lies, and headers that are not the expected JSON object, are torn", () => {
    const headerLength = view().getUint32(8, true);
    for (const lie of [0, 1, headerLength - 1, headerLength + 1, headerLength + 8, bytes.length - 16, 0xffffffff]) {
      const b = bytes.slice();
      new DataView(b.buffer).setUint32(8, lie >>> 0, true);
      expectRefused(withCrc(b), `header length ${headerLength} → ${lie}`);
    }
    // The header rewritten: same sections, another JSON text (or not JSON at all).
    const sectionsFrom = (12 + headerLength + 7) & ~7;
    const rest = bytes.subarray(sectionsFrom, bytes.length - 4);
    const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + headerLength))) as Record<string, unknown>;
    const withHeader = (text: string | Uint8Array): Uint8Array => {
      const h = typeof text === "string" ? new TextEncoder().encode(text) : text;
      const at = (12 + h.length + 7) & ~7;
      const out = new Uint8Array(at + rest.length + 4);
      out.set(bytes.subarray(0, 8), 0);
      new DataView(out.buffer).setUint32(8, h.length, true);
      out.set(h, 12);
      out.set(rest, at);
      return withCrc(out);
    };
    expect(decode(withHeader(JSON.stringify(meta)), "the header re-written as it was").ok).toBe(true);
    const bad: [string, string | Uint8Array][] = [
      ["null", "null"],
      ["a number", "42"],
      ["a string", '"snapshot"'],
      ["an array", "[1,2,3]"],
      ["empty", ""],
      ["cut JSON", JSON.stringify(meta).slice(0, 20)],
      ["not UTF-8", new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
      ["memberCount a string", JSON.stringify({ ...meta, memberCount: String(meta.memberCount) })],
      ["memberCount negative", JSON.stringify({ ...meta, memberCount: -1 })],
      ["memberCount missing", JSON.stringify({ ...meta, memberCount: undefined })],
      ["clock a string", JSON.stringify({ ...meta, clock: "yesterday" })],
      ["clock null", JSON.stringify({ ...meta, clock: null })],
      ["lastSeq fractional", JSON.stringify({ ...meta, lastSeq: 1.5 })],
      ["lastSeq negative", JSON.stringify({ ...meta, lastSeq: -3 })],
      ["freeCells an object", JSON.stringify({ ...meta, freeCells: {} })],
    ];
    for (const [what, h] of bad) expectRefused(withHeader(h), `header ${what}`, "torn");
    // Other partition or rules: a mismatch, as before.
    expectRefused(withHeader(JSON.stringify({ ...meta, partition: 2 })), "partition 2", "mismatch");
  });

  test("sections of the wrong size for the member count or the arena are torn, so fromParts never sees them", () => {
    const parts = state.exportParts();
    const n = parts.memberCount;
    const longer = <T extends Uint32Array | Uint16Array | Uint8Array | Float64Array>(a: T, by: number): T => {
      const out = new (a.constructor as new (k: number) => T)(a.length + by);
      out.set(a);
      return out;
    };
    const variants: [string, StateParts][] = [
      ["cellStart longer than the members (past fromParts' capacity)", { ...parts, cellStart: longer(parts.cellStart, 2048) }],
      ["cellClass longer than the members", { ...parts, cellClass: longer(parts.cellClass, 2048) }],
      ["cellStart shorter than the members", { ...parts, cellStart: parts.cellStart.subarray(0, n - 1) }],
      ["cell points longer than the keys", { ...parts, cells: { ...parts.cells, points: longer(parts.cells.points, 4096) } }],
      ["cell keys longer than the points", { ...parts, cells: { ...parts.cells, keys: longer(parts.cells.keys, 8) } }],
      ["14 free lists", { ...parts, cells: { ...parts.cells, freeHead: longer(parts.cells.freeHead, 1) } }],
      ["no free lists", { ...parts, cells: { ...parts.cells, freeHead: new Uint32Array(0) } }],
      ["dedupLo shorter than dedupHi", { ...parts, dedupLo: parts.dedupLo.subarray(0, Math.max(0, parts.dedupLo.length - 1)) }],
      ["dedupSeenAt longer than dedupHi", { ...parts, dedupSeenAt: longer(parts.dedupSeenAt, 3) }],
    ];
    expect(parts.dedupHi.length).toBeGreaterThan(0);
    for (const [what, p] of variants) expectRefused(snapshotOf(state, p), what, "torn");
    // Bytes after the last section, inside the CRC: the lengths do not add up to the file.
    const padded = new Uint8Array(bytes.length + 8);
    padded.set(bytes.subarray(0, bytes.length - 4), 0);
    expectRefused(withCrc(padded), "8 bytes between the last section and the CRC", "torn");
  });
});
