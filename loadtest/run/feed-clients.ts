// The parent's side of loadtest/stack/feed-clients-role.ts: connect the members, learn the
// probe members' scores from their hellos, measure the clients' clock against ours, and
// turn each probe frame into an order → frame latency on our clock.

import { type Child, spawnRole } from "../stack/children.ts";
import { clockOffset } from "../stack/clock.ts";
import type { BenefitTake, FeedOpenResult, FeedTake } from "../stack/feed-clients-role.ts";
import type { ProbeMember } from "./probes.ts";

const OPEN_CONCURRENCY = 128;
const OPEN_DEADLINE_MS = 120_000;

/** Members above every population id (those are < 2^32), a fresh block for each run. */
export function probeMemberIds(count: number, nowMs = Date.now()): number[] {
  const block = Math.floor(nowMs / 1000) % 2 ** 20; // a new block each second, for 12 days
  const base = 2 ** 42 + block * 2 ** 20;
  if (count > 2 ** 20) throw new RangeError("at most 2^20 probe members");
  return Array.from({ length: count }, (_, i) => base + i);
}

/** The feed's url for a gateway's http(s) or ws(s) url. */
export function feedUrl(gatewayUrl: string): string {
  return `${gatewayUrl.replace(/^http/, "ws")}/v1/feed`;
}

export interface FeedClients {
  child: Child;
  opened: FeedOpenResult;
  probeMembers: ProbeMember[];
  /** The clients' wall clock minus ours, and its uncertainty. */
  skewMs: number;
  skewUncertaintyMs: number;
  /** Probe latencies since the last take: [sent ms on our wall clock, latency ms]. */
  take(): Promise<{ samples: [number, number][]; last: FeedTake }>;
  /** A benefit's `benefit` / `benefit_closed` frames since the last call, arrival on our wall clock. */
  benefitTake(benefit: string): Promise<BenefitTake>;
  stop(): Promise<void>;
}

/** The feed's part of a result: connections opened, frames and closes seen, the clock skew. */
export interface FeedSummary {
  connections: number;
  opened: number;
  failed: number;
  openMs: number;
  firstError: string | null;
  framesByType: Record<string, number>;
  closesByCode: Record<string, number>;
  skewMs: number;
  skewUncertaintyMs: number;
}

export function feedSummary(connections: number, feed: FeedClients, last: FeedTake | null): FeedSummary {
  return {
    connections,
    opened: feed.opened.opened,
    failed: feed.opened.failed,
    openMs: feed.opened.ms,
    firstError: feed.opened.firstError,
    framesByType: last?.framesByType ?? {},
    closesByCode: last?.closesByCode ?? {},
    skewMs: feed.skewMs,
    skewUncertaintyMs: feed.skewUncertaintyMs,
  };
}

export async function startFeedClients(
  gatewayUrls: readonly string[],
  secret: string,
  probeIds: readonly number[],
  otherMembers: readonly number[],
  log: (msg: string) => void,
): Promise<FeedClients> {
  const child = await spawnRole("feed-clients-role");
  try {
    const members = [...probeIds, ...otherMembers];
    const opened = await child.request<FeedOpenResult>(
      "open",
      { urls: gatewayUrls.map(feedUrl), members, secret, concurrency: OPEN_CONCURRENCY, deadlineMs: OPEN_DEADLINE_MS },
      OPEN_DEADLINE_MS + 30_000,
    );
    log(`feed: ${opened.opened} of ${members.length} members connected in ${(opened.ms / 1000).toFixed(1)} s${opened.failed > 0 ? ` (${opened.failed} failed: ${opened.firstError})` : ""}`);
    if (opened.opened === 0 && members.length > 0) throw new Error(`no feed connection opened: ${opened.firstError}`);
    const probeSet = new Set(probeIds);
    const probeMembers = opened.hellos.filter(([m]) => probeSet.has(m)).map(([member, score]) => ({ member, score }));
    const clock = await clockOffset(child);
    return {
      child,
      opened,
      probeMembers,
      skewMs: clock.offsetMs,
      skewUncertaintyMs: clock.rttMs / 2,
      async take() {
        const last = await child.request<FeedTake>("take", undefined, 10_000);
        const samples: [number, number][] = [];
        for (let i = 0; i + 1 < last.probes.length; i += 2) {
          const sent = last.probes[i];
          samples.push([sent, last.probes[i + 1] - clock.offsetMs - sent]);
        }
        return { samples, last };
      },
      async benefitTake(benefit) {
        const b = await child.request<BenefitTake>("benefitTake", { benefit }, 10_000);
        for (let i = 1; i < b.told.length; i += 2) b.told[i] -= clock.offsetMs;
        for (const c of b.closed) c[1] -= clock.offsetMs;
        return b;
      },
      async stop() {
        await child.request("closeAll", undefined, 20_000).catch(() => {});
        await child.stop();
      },
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
