// One memory measurement in a process of its own (so RSS starts clean):
//   bun loadtest/memory-probe.ts <members> <orders> <seed> <timeLimitS> [snapshotDir [lastSeqsJson]]
// builds 64 PartitionStates from `orders` orders of the population spread over 12 months of
// event time, straight from the generator into applyMessage (no message kept), and prints one
// JSON line: the state's own accounting and the process's RSS and heap growth. With a
// snapshot folder it then writes every partition's snapshot (timing the copy — the ingestion
// pause — and the write) and reads them all back into fresh states (the recovery load).

import { applyMessage } from "../engine/apply-message.ts";
import { loadConfig } from "../engine/config.ts";
import { PartitionState } from "../engine/state/partition-state.ts";
import { OrderReader } from "../proto/reader.ts";
import { DEFAULT_START_TS, OrderGenerator } from "./population.ts";
import { stateBytes } from "./state-bytes.ts";
import { configHash, encodeSnapshot } from "../engine/snapshot/format.ts";
import { SnapshotStore } from "../engine/snapshot/store.ts";
import { silentLogger } from "../engine/log.ts";
import type { Config } from "../engine/config.ts";

const PARTITIONS = 64;
const ORDERS_PER_MESSAGE = 256;
const YEAR_MS = 365 * 86_400_000;
/** Orders per generator call: small enough to check the time limit often. */
const CHUNK_ORDERS = 1_000_000;

export interface ProbeResult {
  populationMembers: number;
  ordersAsked: number;
  ordersApplied: number;
  buildS: number;
  truncated: boolean;
  rssBytes: number;
  heapBytes: number;
  state: ReturnType<typeof stateBytes>;
  lineNames: string[];
  tierChanges: number;
  snapshot?: SnapshotFigures;
}

export interface SnapshotFigures {
  bytes: number;
  /** Longest single-partition copy into a snapshot buffer: how long that partition's ingestion stops. */
  copyMsMax: number;
  copyMsTotal: number;
  writeMsTotal: number;
  /** Reading every partition's newest snapshot back into fresh states, one after another. */
  loadMsTotal: number;
  membersLoaded: number;
}

async function snapshotRoundTrip(states: PartitionState[], config: Config, dir: string, lastSeqs: number[]): Promise<SnapshotFigures> {
  const store = new SnapshotStore(dir, silentLogger);
  const hash = configHash(config);
  let bytes = 0;
  let copyMsMax = 0;
  let copyMsTotal = 0;
  let writeMsTotal = 0;
  for (const state of states) {
    const t0 = performance.now();
    const snap = encodeSnapshot(
      {
        partition: state.partition,
        partitions: config.partitions,
        configHash: hash,
        lastSeq: lastSeqs[state.partition] ?? 1,
        clock: state.clock,
        memberCount: state.memberCount,
        freeCells: state.cells.exportParts().freeCells,
        createdAtMs: Date.now(),
      },
      state.exportParts(),
    );
    const copyMs = performance.now() - t0;
    copyMsMax = Math.max(copyMsMax, copyMs);
    copyMsTotal += copyMs;
    const t1 = performance.now();
    await store.write(state.partition, lastSeqs[state.partition] ?? 1, snap);
    writeMsTotal += performance.now() - t1;
    bytes += snap.length;
  }
  const t2 = performance.now();
  let membersLoaded = 0;
  for (const state of states) {
    const got = await store.loadNewest(state.partition, { configHash: hash });
    if (!got) throw new Error(`partition ${state.partition}: snapshot did not load`);
    membersLoaded += PartitionState.fromParts(config, state.partition, got.parts).memberCount;
  }
  return { bytes, copyMsMax, copyMsTotal, writeMsTotal, loadMsTotal: performance.now() - t2, membersLoaded };
}

async function main(argv: string[]): Promise<void> {
  const [members, orders, seed, timeLimitS] = argv.slice(0, 4).map(Number);
  const snapshotDir = argv[4];
  /** Per partition, the ORDERS sequence the snapshot claims (so an engine can start from it). */
  const lastSeqs: number[] = argv[5] ? (JSON.parse(argv[5]) as number[]) : [];
  if (![members, orders, seed, timeLimitS].every(Number.isInteger)) {
    throw new Error("usage: bun loadtest/memory-probe.ts <members> <orders> <seed> <timeLimitS>");
  }
  const config = loadConfig({ tickIntervalMs: 0 });
  const reader = new OrderReader(config.lineNames);
  const states = Array.from({ length: PARTITIONS }, (_, p) => new PartitionState(config, p));
  // A year of event time from the first month start: members collect up to 12 months.
  const gen = new OrderGenerator({ seed, members, startTs: DEFAULT_START_TS, ratePerSec: orders / (YEAR_MS / 1000) });
  const storedMs = DEFAULT_START_TS + YEAR_MS; // no ts is later: none is "in the future"
  let applied = 0;
  let bad = 0;
  let tierChanges = 0;
  const batcher = gen.batcher(PARTITIONS, ORDERS_PER_MESSAGE, (p, body) => {
    const r = applyMessage(states[p], reader, body, storedMs);
    applied += r.applied;
    bad += r.deadLetters.length + r.duplicates;
    tierChanges += r.changes.length;
  });
  // Baseline after everything but the members exists (generator, batcher buffers, empty states).
  Bun.gc(true);
  const before = process.memoryUsage();

  const t = performance.now();
  let generated = 0;
  while (generated < orders && performance.now() - t < timeLimitS * 1000) {
    const n = Math.min(CHUNK_ORDERS, orders - generated);
    gen.writeBatches(n, batcher);
    generated += n;
  }
  batcher.flush();
  const buildS = (performance.now() - t) / 1000;
  if (applied !== generated || bad !== 0) throw new Error(`applied ${applied} of ${generated}; ${bad} dead or duplicate`);

  Bun.gc(true);
  const after = process.memoryUsage();
  const result: ProbeResult = {
    populationMembers: members,
    ordersAsked: orders,
    ordersApplied: applied,
    buildS,
    truncated: generated < orders,
    rssBytes: after.rss - before.rss,
    heapBytes: after.heapUsed - before.heapUsed,
    state: stateBytes(states, config.lineNames.length, config.windowMonths),
    lineNames: config.lineNames,
    tierChanges,
  };
  if (snapshotDir) result.snapshot = await snapshotRoundTrip(states, config, snapshotDir, lastSeqs);
  // Typed arrays become plain arrays in JSON.
  console.log(JSON.stringify(result, (_, v) => (v instanceof Float64Array ? Array.from(v) : v)));
}

if (import.meta.main) await main(process.argv.slice(2));
