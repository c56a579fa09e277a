// One flash drop, start to end:
//   1. the run's members (a fresh id block) connect to the feed; above bronze the claimants
//      first get the orders that lift them to --min-tier, applied by the engines;
//   2. a benefit with a unique id is defined (BENEFITS, through NATS) to open --opens-in-s later;
//   3. at the opening: who of the connected eligible members got its `benefit` frame, and
//      how long after startsAt;
//   4. every claimant claims at once through the gateway(s) (claim-storm.ts);
//   5. the `benefit_closed` frames (sold_out, or ended: the run ends a benefit it did not sell
//      out, and ends every one it defined), then CLAIMS is read back, and the checks run.
// The timeline starts when the benefit is defined; its sent / answered are claims.

import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { putBenefitDefinition } from "../../scripts/benefit-admin.ts";
import type { Benefit } from "../../proto/benefit.ts";
import { Rng } from "../random.ts";
import type { ScenarioContext, ScenarioOutcome } from "../scenarios/scenario.ts";
import { wallNowMs } from "../stack/role.ts";
import { BenefitFrames } from "./benefit-frames.ts";
import { ClaimStorm } from "./claim-storm.ts";
import { claimsLastSeq, readClaimsOf } from "./claims-stream.ts";
import { type DropSettings, fetchConcurrencyLimit } from "./drop-options.ts";
import { dropOutcome } from "./drop-outcome.ts";
import { dropLine } from "./drop-summary.ts";
import { raiseToTier } from "./drop-tiers.ts";
import { type FeedClients, probeMemberIds, startFeedClients } from "./feed-clients.ts";
import { num } from "./live-line.ts";
import type { RunEvent } from "./run-load.ts";
import { Timeline } from "./timeline.ts";

/** The benefit's window; the run ends it early. */
const WINDOW_MS = 30 * 60_000;
/** After the opening, claims start once every eligible connected member was told, or after this. */
const TOLD_WAIT_MS = 10_000;
const CLOSED_WAIT_MS = 10_000;
/** Members who repeat a claim with its key: 1 % of the claimants, 20 … 500. */
const SAMPLE_SHARE = 0.01;
const SAMPLE_MIN = 20;
const SAMPLE_MAX = 500;

/** Resolves at `at` (performance.now() ms) or when `signal` aborts. */
async function sleepUntil(at: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted && performance.now() < at) await Bun.sleep(Math.min(100, at - performance.now()));
}

/** The claimants in a seeded order, and the sample that repeats its claims. */
function shuffleAndSample(claimants: number[], seed: number): { order: number[]; sample: Set<number> } {
  const rng = new Rng(seed);
  const order = [...claimants];
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.intBetween(0, i);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const n = Math.min(claimants.length, Math.max(SAMPLE_MIN, Math.min(SAMPLE_MAX, Math.ceil(claimants.length * SAMPLE_SHARE))));
  // Spread over the order: early claims (units left) and late ones (sold out) alike.
  const stride = order.length / n;
  return { order, sample: new Set(Array.from({ length: n }, (_, k) => order[Math.floor(k * stride)])) };
}

export async function runDrop(ctx: ScenarioContext, s: DropSettings, apiKey: string): Promise<ScenarioOutcome> {
  const { target, config } = ctx;
  const members = probeMemberIds(Math.max(s.connections, s.claimants));
  const claimants = members.slice(0, s.claimants);
  const tag = `${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
  if (s.claimConcurrency > fetchConcurrencyLimit()) {
    ctx.log(`drop: --claim-concurrency ${s.claimConcurrency} > ${fetchConcurrencyLimit()}, what Bun's fetch sends at once: the rest wait in this process (set BUN_CONFIG_MAX_HTTP_REQUESTS)`);
  }
  const nc = await connect({ servers: target.natsUrl, name: "tierstream-loadtest-drop" });
  let feed: FeedClients | null = null;
  try {
    const afterSeq = await claimsLastSeq(nc).catch((err: Error) => {
      throw new Error(`${target.natsUrl} has no CLAIMS stream (is it a tierstream deployment?): ${err.message}`);
    });
    feed = await startFeedClients(target.gatewayUrls, target.jwtSecret ?? "", [], members.slice(0, s.connections), ctx.log);
    const tiers = s.minTier === "bronze" ? null : await raiseToTier(nc, config, claimants, s.minTier, `ltdrop-${tag}`);
    if (tiers !== null) ctx.log(`drop: ${tiers.members} claimants below ${s.minTier} got ${tiers.orders} orders; all reached it in ${(tiers.ms / 1000).toFixed(1)} s`);
    const connected = feed.opened.hellos.map(([m]) => m);
    const claimantSet = new Set(claimants);
    const eligible = new Set(s.minTier === "bronze" ? connected : connected.filter((m) => claimantSet.has(m)));

    const timeline = new Timeline();
    const events: RunEvent[] = [];
    const t0 = performance.now();
    const now = () => performance.now() - t0;
    const event = (what: string, tMs = now()) => {
      events.push({ tMs, what });
      ctx.log(`event at ${(tMs / 1000).toFixed(1)} s: ${what}`);
    };
    const wallStart = wallNowMs() - now();
    const def: Benefit = {
      id: `loadtest-drop-${tag}`,
      title: "tierstream loadtest drop",
      minTier: s.minTier,
      startsAt: Math.ceil(wallStart + s.opensInS * 1000),
      endsAt: Math.ceil(wallStart + s.opensInS * 1000) + WINDOW_MS,
      inventory: s.inventory,
      perMember: s.perMember,
    };
    const opensAtMs = def.startsAt - wallStart;
    await putBenefitDefinition(nc, def);
    event(`benefit ${def.id} defined, opening in ${s.opensInS} s`);
    let ended = false;
    const endBenefit = async () => {
      if (ended) return;
      ended = true;
      const at = Date.now();
      await putBenefitDefinition(nc, { ...def, startsAt: Math.min(def.startsAt, at - 1), endsAt: at });
    };

    const frames = new BenefitFrames(feed, def.id, timeline, def.startsAt, opensAtMs);
    frames.follow();
    const { order, sample } = shuffleAndSample(claimants, ctx.options.seed);
    const storm = new ClaimStorm({
      targets: target.gatewayUrls.map((url) => ({ url, apiKey, benefit: def.id })),
      claimants: order,
      perMember: s.perMember,
      concurrency: s.claimConcurrency,
      sample,
      keyPrefix: `ltdrop-${tag}`,
      timeline,
      t0,
      signal: ctx.interrupted,
    });
    let phase = "waiting for the opening";
    let stormStarted = false;
    let cpuLast = process.cpuUsage();
    const ticker = setInterval(() => {
      const cpu = process.cpuUsage(cpuLast);
      cpuLast = process.cpuUsage();
      const second = Math.round(now() / 1000);
      timeline.count("cpuMs", second * 1000 - 1, (cpu.user + cpu.system) / 1000);
      ctx.print(dropLine({ second, phase, eligible: eligible.size, frames, storm: stormStarted ? storm : null, timeline }));
    }, 1000);
    let interruptedAtS: number | null = null;
    ctx.interrupted.addEventListener("abort", () => (interruptedAtS = now() / 1000), { once: true });
    const expectedClose = s.claimants * s.perMember >= s.inventory ? "sold_out" : "ended";
    let allToldMs: number | null = null;
    let closeWaitMs = 0;
    try {
      await sleepUntil(t0 + opensAtMs, ctx.interrupted);
      if (!ctx.interrupted.aborted) {
        event("the benefit opens", opensAtMs);
        phase = "open";
        const allTold = await frames.waitFor("told", eligible.size, TOLD_WAIT_MS);
        const last = [...eligible].reduce((max, m) => Math.max(max, frames.told.get(m) ?? Number.NaN), 0);
        if (allTold && !Number.isNaN(last)) allToldMs = last - def.startsAt;
        event(`${num(frames.told.size)} of ${num(eligible.size)} eligible connected members told${allToldMs !== null ? ` (the last ${allToldMs.toFixed(0)} ms after the opening)` : ""}; the claims start`);
        phase = "claims";
        stormStarted = true;
        await storm.run();
        event(`claims answered: ${num(storm.answered)} of ${num(storm.sent)}, ${num(storm.won)} won, ${num(storm.perSec)} claims/s`);
        phase = `waiting for benefit_closed (${expectedClose})`;
        const c0 = performance.now();
        if (expectedClose === "ended") await endBenefit();
        await frames.waitFor("closed", frames.told.size, ctx.interrupted.aborted ? 0 : CLOSED_WAIT_MS);
        closeWaitMs = performance.now() - c0;
        event(`${num(frames.closed.size)} of ${num(frames.told.size)} told got benefit_closed`);
      }
    } finally {
      clearInterval(ticker);
      await frames.stop();
      await endBenefit().catch((err: Error) => ctx.log(`drop: could not end ${def.id}: ${err.message}`));
    }
    const endMs = now();

    ctx.log(`drop: reading ${def.id}'s records back from CLAIMS`);
    let streamError: string | null = null;
    const read = await readClaimsOf(nc, def.id, afterSeq).catch((err: Error) => ((streamError = err.message), null));
    const take = await feed.take().catch(() => null);
    return dropOutcome({
      settings: s,
      benefit: def.id,
      tiers,
      connected: connected.length,
      eligible,
      frames,
      allToldMs,
      expectedClose,
      storm,
      sampleSize: sample.size,
      stream: read,
      streamError,
      timeline,
      events,
      t0,
      endMs,
      interruptedAtS,
      feed,
      take: take?.last ?? null,
      closeWaitMs,
    });
  } finally {
    await feed?.stop().catch(() => {});
    await nc.close().catch(() => {});
  }
}
