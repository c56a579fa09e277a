// What a drop comes to: its figures (the result's `figures`, what the checks judge), and the
// outcome the result file, the final table and the report are built from — claims as the
// timeline's sent / answered, claim → answer as its latency, claims/s for --slo-min-rate.

import type { ScenarioOutcome } from "../scenarios/scenario.ts";
import type { FeedTake } from "../stack/feed-clients-role.ts";
import type { BenefitFrames } from "./benefit-frames.ts";
import type { ClaimStorm } from "./claim-storm.ts";
import type { ClaimsInStream } from "./claims-stream.ts";
import { type DropFigures, dropChecks, overLimit } from "./drop-checks.ts";
import type { DropSettings } from "./drop-options.ts";
import { dropRows } from "./drop-summary.ts";
import type { TierRaise } from "./drop-tiers.ts";
import { type FeedClients, feedSummary } from "./feed-clients.ts";
import { PiecewiseProfile } from "./rate-profile.ts";
import type { RunEvent } from "./run-load.ts";
import type { Timeline } from "./timeline.ts";

export interface DropEnd {
  settings: DropSettings;
  benefit: string;
  tiers: TierRaise | null;
  /** Members whose feed connection opened, and of those the ones who may claim. */
  connected: number;
  eligible: ReadonlySet<number>;
  frames: BenefitFrames;
  allToldMs: number | null;
  expectedClose: "sold_out" | "ended";
  storm: ClaimStorm;
  sampleSize: number;
  stream: ClaimsInStream | null;
  streamError: string | null;
  timeline: Timeline;
  events: RunEvent[];
  /** performance.now() at the timeline's origin, and the run's end on it (ms). */
  t0: number;
  endMs: number;
  interruptedAtS: number | null;
  feed: FeedClients;
  take: FeedTake | null;
  closeWaitMs: number;
}

export function dropFigures(e: DropEnd): DropFigures {
  const s = e.settings;
  const { storm, frames, stream } = e;
  const answersOver = overLimit(storm.wonBy, s.perMember);
  const streamOver = stream === null ? null : overLimit(stream.wonBy, s.perMember);
  return {
    benefit: e.benefit,
    minTier: s.minTier,
    inventory: s.inventory,
    perMember: s.perMember,
    claimants: s.claimants,
    demand: s.claimants * s.perMember,
    tiers: e.tiers,
    feed: {
      connected: e.connected,
      eligible: e.eligible.size,
      told: [...e.eligible].filter((m) => frames.told.has(m)).length,
      toldIneligible: [...frames.told.keys()].filter((m) => !e.eligible.has(m)).length,
      allToldMs: e.allToldMs,
      closed: frames.closed.size,
      closedByReason: frames.closedByReason,
      expectedClose: e.expectedClose,
    },
    claims: {
      sent: storm.sent,
      answered: storm.answered,
      unanswered: storm.unanswered,
      won: storm.won,
      byStatus: storm.byStatus,
      transientRetries: storm.transientRetries,
      stormMs: Number.isNaN(storm.endMs) ? 0 : storm.endMs - storm.startMs,
      perSec: storm.perSec,
      firstError: storm.firstError,
      maxWonByMember: answersOver.max,
      membersOverLimit: answersOver.members,
    },
    repeats: storm.repeats,
    beyond: storm.beyond,
    stream:
      stream === null || streamOver === null
        ? null
        : { records: stream.records, won: stream.won, byOutcome: stream.byOutcome, maxWonByMember: streamOver.max, membersOverLimit: streamOver.members, scanned: stream.scanned, ms: stream.ms },
    streamError: e.streamError,
  };
}

export function dropOutcome(e: DropEnd): ScenarioOutcome {
  const figures = dropFigures(e);
  const { storm, feed } = e;
  const durationS = Math.max(1, Math.ceil(e.endMs / 1000));
  return {
    load: {
      timeline: e.timeline,
      profile: new PiecewiseProfile([[0, 0]], durationS * 1000),
      durationS,
      interruptedAtS: e.interruptedAtS,
      startedAt: new Date(performance.timeOrigin + e.t0).toISOString(),
      events: e.events,
      offered: storm.sent,
      ackedInWindow: storm.answered,
      messages: storm.sent,
      firstError: storm.firstError,
      probes: null,
      feed: feedSummary(e.settings.connections, feed, e.take),
      drain: { ms: e.closeWaitMs, acks: storm.unanswered === 0, applied: null, probes: null },
    },
    checks: dropChecks(figures),
    notes: [
      `drop: members are a fresh id block above 2^42 (unknown members are bronze with score 0); claims in a seeded order, ${e.settings.claimConcurrency} in flight at most over keep-alive connections` +
        ` (Bun's fetch sends at most BUN_CONFIG_MAX_HTTP_REQUESTS, default 256, at once); ${e.sampleSize} members repeated their first claim with its Idempotency-Key.`,
      `drop: open → frame is the client's arrival minus the benefit's startsAt, both on this machine's clock (the clients' clock − ours, ${feed.skewMs.toFixed(3)} ms, subtracted); against a deployment the gateways' clock offset adds to it.`,
    ],
    settings: { ...e.settings },
    item: "claims",
    figures: figures as unknown as Record<string, unknown>,
    rows: dropRows(figures),
    rate: { perSec: storm.perSec, verb: "answered", unit: "claims" },
  };
}
