// Many WebSocket feed clients in one process (the gateway's sockets are the other ends, in
// another process):  bun loadtest/stack/ws-clients-role.ts
//
// Commands:
//   open {url, members, secret, concurrency, deadlineMs}: opens one connection per member
//     (each with its own member token), at most `concurrency` handshakes at once, and waits
//     until each has received its first frame (the hello).
//   latency {phase}: the probes of that phase received so far — every `tier` frame whose
//     cause is a probe id (probe-id.ts) is timed on arrival: this process's wall clock minus
//     the time in the id.
//   watchLive {natsUrl, members, partitions}: subscribes (its own NATS connection) to the
//     engine's live tier subject of each member, beside the gateway's subscription: when the
//     live message reached a NATS subscriber, to split engine from gateway.
//   arrivals {phase}: each probe's [id, TIER_EVENTS seq, frame arrival ms, live message
//     arrival ms or −1], for the bench to split the latency at the stream's timestamps.
//   counts: frames received by type, closes by code.
//   closeAll: closes every connection.

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { liveTierSubject } from "../../proto/names.ts";
import { partitionOf } from "../../proto/partition.ts";
import { memberToken } from "../../scripts/commands/token.ts";
import { LatencyRecorder, type LatencySummary } from "./latency.ts";
import { parseProbeId } from "./probe-id.ts";
import { serveRole, wallNowMs } from "./role.ts";

const TOKEN_TTL_S = 3600;
const CLOSE_DEADLINE_MS = 10_000;

export interface OpenArgs {
  url: string;
  members: number[];
  secret: string;
  concurrency: number;
  deadlineMs: number;
}

export interface OpenResult {
  opened: number;
  failed: number;
  ms: number;
  /** Time from creating a socket to its first frame: median and slowest, ms. */
  helloP50Ms: number;
  helloMaxMs: number;
  firstError: string | null;
}

const sockets: WebSocket[] = [];
const recorders = new Map<string, LatencyRecorder>();
/** Per phase: [probe id, the frame's seq, arrival ms]. Bounded by the probes sent (≤ 5 per member). */
const arrivals = new Map<string, [string, number, number][]>();
/** Probe id → when its live tier message reached this process's NATS subscription. */
const liveArrivals = new Map<string, number>();
let liveNc: NatsConnection | null = null;
const decoder = new TextDecoder();
const framesByType: Record<string, number> = {};
const closesByCode: Record<string, number> = {};
let unparsed = 0;

function onFrame(data: unknown): void {
  const receivedMs = wallNowMs(); // before the parse: the frame is here
  if (typeof data !== "string") return void unparsed++;
  let frame: { type?: unknown; cause?: unknown; seq?: unknown };
  try {
    frame = JSON.parse(data) as typeof frame;
  } catch {
    return void unparsed++;
  }
  const type = typeof frame.type === "string" ? frame.type : "?";
  framesByType[type] = (framesByType[type] ?? 0) + 1;
  if (type !== "tier" || typeof frame.cause !== "string") return;
  const probe = parseProbeId(frame.cause);
  if (probe === null) return;
  let r = recorders.get(probe.phase);
  if (r === undefined) recorders.set(probe.phase, (r = new LatencyRecorder()));
  r.record(receivedMs - probe.sentMs);
  let list = arrivals.get(probe.phase);
  if (list === undefined) arrivals.set(probe.phase, (list = []));
  list.push([frame.cause, typeof frame.seq === "number" ? frame.seq : -1, receivedMs]);
}

async function open(args: OpenArgs): Promise<OpenResult> {
  const t0 = performance.now();
  const deadline = t0 + args.deadlineMs;
  const helloMs: number[] = [];
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const openOne = async (member: number): Promise<void> => {
    const token = await memberToken(member, args.secret, TOKEN_TTL_S);
    const started = performance.now();
    const ws = new WebSocket(`${args.url}?token=${token}&m=${member}`);
    sockets.push(ws);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => fail(`no hello within ${Math.round(deadline - started)} ms`), Math.max(1, deadline - started));
      const fail = (why: string) => {
        clearTimeout(timer);
        failed++;
        firstError ??= why;
        resolve();
      };
      ws.onmessage = (ev) => {
        clearTimeout(timer);
        helloMs.push(performance.now() - started);
        ws.onmessage = (e) => onFrame(e.data);
        onFrame(ev.data);
        resolve();
      };
      ws.onclose = (ev) => {
        closesByCode[ev.code] = (closesByCode[ev.code] ?? 0) + 1;
        fail(`closed ${ev.code} ${ev.reason} before its first frame`);
      };
      ws.onerror = () => fail("socket error before its first frame");
    });
    ws.onclose = (ev) => void (closesByCode[ev.code] = (closesByCode[ev.code] ?? 0) + 1);
  };
  const worker = async () => {
    while (next < args.members.length && performance.now() < deadline) await openOne(args.members[next++]);
  };
  await Promise.all(Array.from({ length: Math.max(1, args.concurrency) }, worker));
  helloMs.sort((a, b) => a - b);
  return {
    opened: helloMs.length,
    failed: failed + (args.members.length - next),
    ms: performance.now() - t0,
    helloP50Ms: helloMs.length ? helloMs[helloMs.length >> 1] : NaN,
    helloMaxMs: helloMs.length ? helloMs[helloMs.length - 1] : NaN,
    firstError,
  };
}

async function watchLive(a: { natsUrl: string; members: number[]; partitions: number }): Promise<number> {
  liveNc ??= await connect({ servers: a.natsUrl, name: "bench-live-observer" });
  for (const m of a.members) {
    liveNc.subscribe(liveTierSubject(partitionOf(m, a.partitions), m), {
      callback: (err, msg) => {
        if (err) return;
        const at = wallNowMs();
        const cause = (JSON.parse(decoder.decode(msg.data)) as { cause?: unknown }).cause;
        if (typeof cause === "string" && parseProbeId(cause) !== null) liveArrivals.set(cause, at);
      },
    });
  }
  await liveNc.flush();
  return a.members.length;
}

async function closeAll(): Promise<number> {
  const n = sockets.length;
  const closed = sockets.map((ws) =>
    ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise<void>((resolve) => {
      ws.addEventListener("close", () => resolve());
      ws.close(1000, "bench done");
    }),
  );
  await Promise.race([Promise.all(closed), Bun.sleep(CLOSE_DEADLINE_MS)]);
  sockets.length = 0;
  return n;
}

serveRole(
  { pid: process.pid },
  {
    open,
    latency: ({ phase }: { phase: string }): LatencySummary & { negative: number } => {
      const r = recorders.get(phase) ?? new LatencyRecorder();
      return { ...r.summary(), negative: r.negative };
    },
    watchLive,
    arrivals: ({ phase }: { phase: string }) => (arrivals.get(phase) ?? []).map(([id, seq, at]) => [id, seq, at, liveArrivals.get(id) ?? -1]),
    counts: () => ({ framesByType, closesByCode, unparsed, open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length }),
    closeAll,
  },
  async () => {
    await closeAll();
    await liveNc?.close().catch(() => {});
  },
);
