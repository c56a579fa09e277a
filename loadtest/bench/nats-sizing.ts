// nats-sizing: what the contract's streams cost nats-server in memory, for sizing a deployment.
//
// Two costs grow with the membership and the tier-change rate, not with the engine:
// - TIER_EVENTS has a subject per member (`tier.<p>.<member>`), and nats-server keeps state
//   for every distinct subject a stream holds, for as long as it holds it (30 days of changes
//   by default);
// - every Nats-Msg-Id of a stream's duplicate window is held in memory (TIER_EVENTS: 10
//   minutes of tier changes).
// Three fresh servers each store the same N messages of a tier change's size: on one subject
// per member, on 64 subjects, and on 64 subjects with a Nats-Msg-Id each. Each is restarted
// (the server rebuilds its indexes from disk, with no write cache left over), sent one
// publish with an id (which rebuilds the duplicate window), and its RSS read; the
// differences, per message, are the two costs.

import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { readFileSync } from "node:fs";
import { AckedPublisher } from "../../engine/acked-publisher.ts";
import { wireHeaders } from "../../proto/wire-headers.ts";
import { startNatsServer } from "../../scripts/nats-server.ts";
import type { BenchContext, BenchModule, RowDraft } from "./types.ts";

const MESSAGES = 1_000_000;
const PARTITIONS = 64;
const IN_FLIGHT_MAX = 4096;
const LOOKUPS = 200;
const SETTLE_MS = 1000;
/** A tier change as the engine stores it (100 bytes of JSON). */
const BODY = new TextEncoder().encode('{"member":123456789,"from":"silver","to":"gold","score":777,"ts":1735660800000,"cause":"o-1-123456"}');

type Variant = "subject per member" | "64 subjects" | "64 subjects, Nats-Msg-Id";

interface Measured {
  rssMiB: number;
  lookupMs: number;
}

const subjectOf = (variant: Variant, i: number) => (variant === "subject per member" ? `tier.${i % PARTITIONS}.${100_000_000 + i}` : `tier.${i % PARTITIONS}.x`);

function rssMiB(pid: number): number {
  const kib = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!kib) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(kib[1]) / 1024;
}

async function measure(variant: Variant, messages: number): Promise<Measured> {
  const server = await startNatsServer();
  try {
    let nc = await connect({ servers: server.url });
    await (await jetstreamManager(nc)).streams.add({
      name: "SIZING",
      subjects: ["tier.>"],
      storage: StorageType.File,
      duplicate_window: 10 * 60 * 1e9,
    });
    // The engine's publisher: acked publishes, at most IN_FLIGHT_MAX waiting for their PubAck.
    const publisher = new AckedPublisher(nc, IN_FLIGHT_MAX, 30_000);
    let failure: Error | null = null;
    const failed = (err: Error) => void (failure ??= err);
    for (let i = 0; i < messages && failure === null; i++) {
      const headers = variant === "64 subjects, Nats-Msg-Id" ? wireHeaders([["Nats-Msg-Id", `t.${i % PARTITIONS}.${i}.0`]]) : undefined;
      publisher.send(subjectOf(variant, i), BODY, headers, () => {}, failed);
      if (publisher.full) await publisher.room();
    }
    while (publisher.inFlight > 0 && failure === null) await Bun.sleep(5);
    if (failure) throw failure;
    publisher.close();
    await nc.close();
    await server.restart();
    await Bun.sleep(SETTLE_MS);
    nc = await connect({ servers: server.url });
    // The server rebuilds a stream's duplicate window from disk at the first publish with an
    // id after a restart: one such publish to every variant alike.
    const probe = new AckedPublisher(nc, 1, 30_000);
    await new Promise<void>((resolve, reject) => probe.send("tier.0.probe", BODY, wireHeaders([["Nats-Msg-Id", "sizing-probe"]]), () => resolve(), reject));
    probe.close();
    await Bun.sleep(SETTLE_MS);
    const jsm = await jetstreamManager(nc);
    const rss = rssMiB(server.pid);
    const started = performance.now();
    for (let k = 0; k < LOOKUPS; k++) await jsm.streams.getMessage("SIZING", { last_by_subj: subjectOf(variant, (k * 4999) % messages) });
    const lookupMs = (performance.now() - started) / LOOKUPS;
    await nc.close();
    return { rssMiB: rss, lookupMs };
  } finally {
    await server.cleanup();
  }
}

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const messages = Math.round(MESSAGES * ctx.scale);
  const m = {} as Record<Variant, Measured>;
  for (const variant of ["subject per member", "64 subjects", "64 subjects, Nats-Msg-Id"] as const) {
    ctx.log(`nats-sizing: ${messages} messages, ${variant}`);
    m[variant] = await measure(variant, messages);
  }
  const perMessage = (a: Measured, b: Measured) => ((a.rssMiB - b.rssMiB) * 1024 * 1024) / messages;
  const bytesPerSubject = perMessage(m["subject per member"], m["64 subjects"]);
  const bytesPerMsgId = perMessage(m["64 subjects, Nats-Msg-Id"], m["64 subjects"]);
  ctx.note(
    `nats-sizing: ${messages.toLocaleString("en-US")} messages of a tier change's size (${BODY.length} bytes) into a file stream on a fresh nats-server, ` +
      `which is then restarted and its RSS read: on one subject per message (as TIER_EVENTS holds one per member) ${m["subject per member"].rssMiB.toFixed(0)} MiB, ` +
      `on 64 subjects ${m["64 subjects"].rssMiB.toFixed(0)} MiB, on 64 subjects with a Nats-Msg-Id each (10-minute duplicate window) ${m["64 subjects, Nats-Msg-Id"].rssMiB.toFixed(0)} MiB. ` +
      `A last_by_subj lookup of one subject took ${m["subject per member"].lookupMs.toFixed(2)} ms against ${m["64 subjects"].lookupMs.toFixed(2)} ms. ` +
      `Sizing: TIER_EVENTS costs the server about ${bytesPerSubject.toFixed(0)} bytes for each member with a change in the stream's age (30 days by default), ` +
      `and ${bytesPerMsgId.toFixed(0)} bytes for each tier change of the last 10 minutes.`,
  );
  return [
    { metric: "nats-server memory per distinct subject a stream holds (TIER_EVENTS: each member with a stored change)", value: bytesPerSubject, unit: "bytes" },
    { metric: "nats-server memory per Nats-Msg-Id in a duplicate window (TIER_EVENTS: each change of the last 10 minutes)", value: bytesPerMsgId, unit: "bytes" },
    {
      metric: `last_by_subj lookup with ${messages.toLocaleString("en-US")} subjects`,
      value: m["subject per member"].lookupMs,
      unit: "ms",
      ceiling: { name: "with 64 subjects", value: m["64 subjects"].lookupMs },
      ratio: m["subject per member"].lookupMs / m["64 subjects"].lookupMs,
    },
  ];
}

export const natsSizingBench: BenchModule = {
  name: "nats-sizing",
  description: "nats-server memory per member subject in TIER_EVENTS and per Nats-Msg-Id in a duplicate window, for sizing",
  run,
};
