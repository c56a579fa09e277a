// memory: bytes of state per member on the realistic population, at 1 M and 10 M members.
// Each size is built in a fresh process (memory-probe.ts) so its RSS growth is its own; the
// headline is PartitionState.memberBytes (real byteLength, slack included), with the process's
// RSS and heap growth beside it and a breakdown by component, line and month.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProbeResult } from "../memory-probe.ts";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { loadConfig } from "../../engine/config.ts";
import { Engine } from "../../engine/engine.ts";
import { silentLogger } from "../../engine/log.ts";
import { encodeOrder, ensureStreams, ordersSubject } from "../../proto/index.ts";
import { startNatsServer } from "../../scripts/nats-server.ts";
import { type BenchContext, type BenchModule, compared, type RowDraft } from "./types.ts";

const SIZES = [
  { members: 1_000_000, orders: 8_000_000 },
  { members: 10_000_000, orders: 60_000_000 },
] as const;
/** Per size: a bound on building the state (the probe stops generating past it and says so). */
const BUILD_LIMIT_S = 300;
/** Per size: the probe process as a whole (build, accounting, GC). */
const PROBE_DEADLINE_MS = 420_000;
const STATE_BYTES_PER_MEMBER_MAX = 96;
const RECOVERY_MS_MAX = 5000;
const SNAPSHOT_PAUSE_MS_MAX = 50;

export const memoryBench: BenchModule = {
  name: "memory",
  description:
    "bytes of engine state per member at 1 M and 10 M members, 12 months of the realistic population; snapshot size, write time, ingestion pause and recovery load of the same states",
  run,
};

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const rows: RowDraft[] = [];
  for (const size of SIZES) {
    const members = Math.round(size.members * ctx.scale);
    const orders = Math.round(size.orders * ctx.scale);
    const label = countLabel(members);
    ctx.log(`memory: ${label}: ${members} members, ${orders} orders`);
    const r = await probe(members, orders, ctx.seed);
    rows.push(...sizeRows(label, r));
    const s = r.state;
    ctx.note(
      `memory ${label}: a population of ${members.toLocaleString("en")} members; ` +
        `${r.ordersApplied.toLocaleString("en")} orders${r.truncated ? ` (of ${orders.toLocaleString("en")} asked: the ${BUILD_LIMIT_S} s bound stopped it)` : ""} ` +
        `over 12 months of event time left ${s.members.toLocaleString("en")} members in state ` +
        `(the rest drew no order, or only refunds, which create nobody), built in ${r.buildS.toFixed(1)} s ` +
        `with ${r.tierChanges.toLocaleString("en")} tier changes. Per member: ${(r.ordersApplied / s.members).toFixed(1)} orders, ` +
        `${(s.parts.cellsInUse / 8 / s.members).toFixed(2)} (month, line) cells.`,
    );
  }
  ctx.note(
    "memory: state bytes = PartitionState.memberBytes summed over 64 partitions = the byteLength of the member arrays, " +
      "the member index and the cell arena, spare capacity included; the dedup horizon is apart (its own row). " +
      "RSS and heap growth are measured around the build after a full GC, in a process of their own.",
  );
  return rows;
}

/** 1000000 → "1M", 100000 → "100k": the population size as rows name it. */
function countLabel(n: number): string {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}

/**
 * Builds the state in a probe process, which snapshots it; then an engine starts from those
 * snapshots against a real nats-server whose ORDERS stream ends where the snapshots do.
 */
async function probe(members: number, orders: number, seed: number): Promise<ProbeResult & { engineReadyMs: number }> {
  const script = join(import.meta.dir, "..", "memory-probe.ts");
  const snapshotDir = mkdtempSync(join(tmpdir(), "tierstream-bench-snap-"));
  const server = await startNatsServer();
  try {
    const nc = await connect({ servers: server.url });
    await ensureStreams(await jetstreamManager(nc));
    const js = jetstream(nc);
    // One tick per partition: each partition's log then ends at a known sequence.
    const lastSeqs: number[] = [];
    for (let p = 0; p < 64; p++) lastSeqs.push((await js.publish(ordersSubject(p), encodeOrder({ kind: "tick", ts: 1 }))).seq);
    await nc.close();
    const child = Bun.spawn(
      [process.execPath, script, String(members), String(orders), String(seed), String(BUILD_LIMIT_S), snapshotDir, JSON.stringify(lastSeqs)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const timer = setTimeout(() => child.kill("SIGKILL"), PROBE_DEADLINE_MS);
    const [stdout, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
    clearTimeout(timer);
    if (code !== 0) throw new Error(`memory probe for ${members} members exited with ${code}`);
    // Start to ready: load every snapshot, recover publish positions, consume to the log's end.
    const t0 = performance.now();
    const engine = await Engine.start({
      natsUrl: server.url,
      config: loadConfig({ tickIntervalMs: 0 }),
      snapshotDir,
      log: silentLogger,
    });
    await engine.whenCaughtUp();
    const engineReadyMs = performance.now() - t0;
    const held = [...engine.runners.values()].reduce((n, r) => n + r.state.memberCount, 0);
    await engine.stop();
    const result = JSON.parse(stdout) as ProbeResult;
    if (held !== result.state.members) throw new Error(`the engine started with ${held} members, the probe built ${result.state.members}`);
    return { ...result, engineReadyMs };
  } finally {
    await server.cleanup();
    rmSync(snapshotDir, { recursive: true, force: true });
  }
}


function sizeRows(label: string, r: ProbeResult & { engineReadyMs: number }): RowDraft[] {
  const s = r.state;
  const m = s.members;
  const perMember = (bytes: number) => bytes / m;
  const cellBytes = (cells: number) => (cells * 8) / m;
  const rows: RowDraft[] = [
    { metric: `${label}: members in state`, value: m, unit: "members" },
    { metric: `${label}: orders applied`, value: r.ordersApplied, unit: "orders" },
    compared(
      {
        metric: `${label}: state per member (PartitionState.memberBytes)`,
        value: perMember(s.memberBytes),
        unit: "bytes",
        target: `≤ ${STATE_BYTES_PER_MEMBER_MAX} bytes`,
      },
      { atMost: STATE_BYTES_PER_MEMBER_MAX },
    ),
    { metric: `${label}: process RSS growth per member`, value: perMember(r.rssBytes), unit: "bytes" },
    { metric: `${label}: heap growth per member (heapUsed, typed arrays included)`, value: perMember(r.heapBytes), unit: "bytes" },
    { metric: `${label}: of which member arrays (20 bytes × capacity)`, value: perMember(s.parts.memberArrays), unit: "bytes" },
    { metric: `${label}: of which member index`, value: perMember(s.parts.index), unit: "bytes" },
    { metric: `${label}: of which cells in use`, value: perMember(s.parts.cellsInUse), unit: "bytes" },
    { metric: `${label}: of which empty cells in members' blocks`, value: perMember(s.parts.emptyCellsInBlocks), unit: "bytes" },
    { metric: `${label}: of which free-listed cells`, value: perMember(s.parts.freeListedCells), unit: "bytes" },
    { metric: `${label}: of which arena spare capacity`, value: perMember(s.parts.arenaSpare), unit: "bytes" },
    { metric: `${label}: dedup horizon (not in memberBytes)`, value: perMember(s.dedupBytes), unit: "bytes" },
    { metric: `${label}: build (generate + apply)`, value: r.ordersApplied / r.buildS, unit: "orders/s" },
  ];
  const snap = r.snapshot;
  if (snap) {
    rows.push(
      { metric: `${label}: snapshot size, all 64 partitions`, value: snap.bytes, unit: "bytes" },
      { metric: `${label}: snapshot size per member`, value: snap.bytes / m, unit: "bytes" },
      compared(
        {
          metric: `${label}: ingestion pause while snapshotting (longest partition copy)`,
          value: snap.copyMsMax,
          unit: "ms",
          target: `≤ ${SNAPSHOT_PAUSE_MS_MAX} ms`,
        },
        { atMost: SNAPSHOT_PAUSE_MS_MAX },
      ),
      { metric: `${label}: snapshot copy, all partitions`, value: snap.copyMsTotal, unit: "ms" },
      { metric: `${label}: snapshot write + fsync, all partitions`, value: snap.writeMsTotal, unit: "ms" },
      compared(
        {
          metric: `${label}: recovery load (read + check + rebuild every partition's state from its snapshot)`,
          value: snap.loadMsTotal,
          unit: "ms",
          target: `≤ ${RECOVERY_MS_MAX} ms`,
        },
        { atMost: RECOVERY_MS_MAX },
      ),
    );
    rows.push(
      compared(
        {
          metric: `${label}: recovery, engine start to ready (connect, load 64 snapshots, recover positions, reach the log's end)`,
          value: r.engineReadyMs,
          unit: "ms",
          target: `≤ ${RECOVERY_MS_MAX} ms`,
        },
        { atMost: RECOVERY_MS_MAX },
      ),
    );
    if (snap.membersLoaded !== m) throw new Error(`snapshot round trip lost members: ${snap.membersLoaded} of ${m}`);
  }
  r.lineNames.forEach((line, i) => {
    rows.push({ metric: `${label}: cells in use, line ${line}`, value: cellBytes(s.cellsByLine[i]), unit: "bytes" });
  });
  s.cellsByAge.forEach((cells, age) => {
    const month = age === 0 ? "current month" : `month C−${age}`;
    rows.push({ metric: `${label}: cells in use, ${month}`, value: cellBytes(cells), unit: "bytes" });
  });
  return rows;
}
