// The load test's WebSocket members, in a process of their own (not the generator's, not the
// gateway's):  bun loadtest/stack/feed-clients-role.ts
//
// Commands:
//   open {urls, members, secret, concurrency, deadlineMs}: one feed connection per member,
//     spread round robin over the gateway urls, each with its own member token; waits for
//     each hello and answers every member's score from it (the probes start from there).
//   take: what arrived since the last take — each probe `tier` frame as [sent ms (from its
//     id), arrival ms] on this process's wall clock — and the counts of frames and closes.
//   benefitTake {benefit}: the `benefit` and `benefit_closed` frames of that benefit since
//     the last benefitTake — [member, arrival ms] pairs, and [member, arrival ms, reason].
//   closeAll: closes every connection.

import { memberToken } from "../../scripts/commands/token.ts";
import { parseProbeId } from "./probe-id.ts";
import { serveRole, wallNowMs } from "./role.ts";

const TOKEN_TTL_S = 24 * 3600;
const CLOSE_DEADLINE_MS = 10_000;
/** Probe arrivals kept between two takes, at most (a take comes every second). */
const PENDING_MAX = 1_000_000;

export interface FeedOpenArgs {
  urls: string[];
  members: number[];
  secret: string;
  concurrency: number;
  deadlineMs: number;
}

export interface FeedOpenResult {
  opened: number;
  failed: number;
  ms: number;
  /** [member, score] from each hello. */
  hellos: [number, number][];
  firstError: string | null;
}

export interface BenefitTake {
  /** Flat pairs: member, arrival ms of its `benefit` frame. */
  told: number[];
  /** [member, arrival ms, reason] of each `benefit_closed` frame. */
  closed: [number, number, string][];
}

export interface FeedTake {
  /** Flat pairs: sent ms, arrival ms. */
  probes: number[];
  dropped: number;
  framesByType: Record<string, number>;
  closesByCode: Record<string, number>;
  open: number;
}

const sockets: WebSocket[] = [];
let pending: number[] = [];
let dropped = 0;
const framesByType: Record<string, number> = {};
const closesByCode: Record<string, number> = {};
/** Flash-benefit frames by benefit id, until a benefitTake collects them. */
const benefitFrames = new Map<string, BenefitTake>();

function benefitFramesOf(benefit: string): BenefitTake {
  let b = benefitFrames.get(benefit);
  if (b === undefined) benefitFrames.set(benefit, (b = { told: [], closed: [] }));
  return b;
}

function onFrame(data: unknown, member: number): void {
  const at = wallNowMs(); // before the parse: the frame is here
  if (typeof data !== "string") return void (framesByType.binary = (framesByType.binary ?? 0) + 1);
  let frame: { type?: unknown; cause?: unknown; benefit?: unknown; reason?: unknown };
  try {
    frame = JSON.parse(data) as typeof frame;
  } catch {
    return void (framesByType.unparsed = (framesByType.unparsed ?? 0) + 1);
  }
  const type = typeof frame.type === "string" ? frame.type : "?";
  framesByType[type] = (framesByType[type] ?? 0) + 1;
  if (type === "benefit" && typeof frame.benefit === "string") return void benefitFramesOf(frame.benefit).told.push(member, at);
  if (type === "benefit_closed" && typeof frame.benefit === "string") return void benefitFramesOf(frame.benefit).closed.push([member, at, String(frame.reason)]);
  if (type !== "tier" || typeof frame.cause !== "string") return;
  const probe = parseProbeId(frame.cause);
  if (probe === null) return;
  if (pending.length >= 2 * PENDING_MAX) return void dropped++;
  pending.push(probe.sentMs, at);
}

async function open(a: FeedOpenArgs): Promise<FeedOpenResult> {
  const t0 = performance.now();
  const deadline = t0 + a.deadlineMs;
  const hellos: [number, number][] = [];
  let failed = 0;
  let firstError: string | null = null;
  let next = 0;
  const openOne = async (k: number): Promise<void> => {
    const member = a.members[k];
    const token = await memberToken(member, a.secret, TOKEN_TTL_S);
    const ws = new WebSocket(`${a.urls[k % a.urls.length]}?token=${token}`);
    sockets.push(ws);
    await new Promise<void>((resolve) => {
      let settled = false; // an error and the close that follows it are one failure
      const fail = (why: string) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        failed++;
        firstError ??= why;
        resolve();
      };
      const timer = setTimeout(() => fail("no hello before the deadline"), Math.max(1, deadline - performance.now()));
      ws.onmessage = (ev) => {
        clearTimeout(timer);
        ws.onmessage = (e) => onFrame(e.data, member);
        try {
          const hello = JSON.parse(String(ev.data)) as { type?: string; score?: number };
          if (hello.type !== "hello" || typeof hello.score !== "number") return fail(`first frame was not a hello: ${String(ev.data).slice(0, 80)}`);
          hellos.push([member, hello.score]);
        } catch {
          return fail("first frame was not JSON");
        }
        settled = true;
        onFrame(ev.data, member);
        resolve();
      };
      ws.onclose = (ev) => {
        closesByCode[ev.code] = (closesByCode[ev.code] ?? 0) + 1;
        fail(`closed ${ev.code} ${ev.reason} before its hello`);
      };
      ws.onerror = () => fail("socket error before its hello");
    });
    ws.onclose = (ev) => void (closesByCode[ev.code] = (closesByCode[ev.code] ?? 0) + 1);
  };
  const worker = async () => {
    while (next < a.members.length && performance.now() < deadline) await openOne(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, a.concurrency) }, worker));
  return { opened: hellos.length, failed: failed + (a.members.length - next), ms: performance.now() - t0, hellos, firstError };
}

function take(): FeedTake {
  const probes = pending;
  pending = [];
  const d = dropped;
  dropped = 0;
  return { probes, dropped: d, framesByType, closesByCode, open: sockets.filter((s) => s.readyState === WebSocket.OPEN).length };
}

function benefitTake(a: { benefit: string }): BenefitTake {
  const b = benefitFrames.get(a.benefit) ?? { told: [], closed: [] };
  benefitFrames.delete(a.benefit);
  return b;
}

async function closeAll(): Promise<number> {
  const n = sockets.length;
  const closed = sockets.map((ws) =>
    ws.readyState === WebSocket.CLOSED
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          ws.addEventListener("close", () => resolve());
          ws.close(1000, "load test done");
        }),
  );
  await Promise.race([Promise.all(closed), Bun.sleep(CLOSE_DEADLINE_MS)]);
  sockets.length = 0;
  return n;
}

serveRole({ pid: process.pid }, { open, take, benefitTake, closeAll }, async () => void (await closeAll()));
