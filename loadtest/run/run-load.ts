// One load run: the population's orders at the profile's rate into JetStream (pacer.ts,
// order-publisher.ts), probe orders to connected members when there is a gateway (probes.ts,
// feed-clients.ts), and once a second: the engines' applied count, the probes' frames, the
// CPU this process used, and the live line. After the profile: a drain, bounded, until every
// PubAck, the engines and the probes' frames are in. Everything lands in a Timeline.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { STREAM_ORDERS } from "../../proto/names.ts";
import type { FeedTake } from "../stack/feed-clients-role.ts";
import { OrderGenerator } from "../population.ts";
import type { ScenarioContext } from "../scenarios/scenario.ts";
import { wallNowMs } from "../stack/role.ts";
import { AppliedCounter, gatherEngineStats } from "./engine-stats.ts";
import { type FeedClients, type FeedSummary, feedSummary, probeMemberIds, startFeedClients } from "./feed-clients.ts";
import { liveLine } from "./live-line.ts";
import { OrderPublisher } from "./order-publisher.ts";
import { Pacer, PACER_DEFAULTS } from "./pacer.ts";
import { ProbeSender } from "./probes.ts";
import type { RateProfile } from "./rate-profile.ts";
import { Timeline } from "./timeline.ts";

/** Probes per second at most when the rate is left to the default. */
const PROBE_RATE_DEFAULT_MAX = 200;
const DRAIN_POLL_MS = 100;
/** After an interruption the drain waits this long at most. */
const INTERRUPTED_DRAIN_MS = 2000;

export interface RunEvent {
  /** ms since the start of the load. */
  tMs: number;
  what: string;
}

export interface LoadHooks {
  /** Called once a second during the load, with the seconds elapsed (1, 2, …). */
  onSecond?(second: number, event: (what: string) => void): Promise<void> | void;
}

export interface LoadOutcome {
  timeline: Timeline;
  profile: RateProfile;
  /** Seconds of load: the profile's, or up to the interruption. */
  durationS: number;
  /** When SIGINT/SIGTERM stopped the load (s since its start); null when it ran its course. */
  interruptedAtS: number | null;
  startedAt: string;
  events: RunEvent[];
  /** Orders handed to NATS during the load, and of those acknowledged within it. */
  offered: number;
  ackedInWindow: number;
  messages: number;
  firstError: string | null;
  probes: { members: number; ratePerSec: number; capacity: number; sent: number; acked: number; errors: number; received: number; exhausted: boolean } | null;
  feed: FeedSummary | null;
  drain: { ms: number; acks: boolean; applied: boolean | null; probes: boolean | null };
}

export async function runLoad(ctx: ScenarioContext, profile: RateProfile, hooks: LoadHooks = {}): Promise<LoadOutcome> {
  const { options: o, config, target } = ctx;
  const timeline = new Timeline();
  timeline.requestFrom(profile);
  let durationS = Math.ceil(profile.durationMs / 1000);
  const events: RunEvent[] = [];
  const gen = new OrderGenerator({
    seed: o.seed,
    members: o.members,
    lines: o.lines,
    // Event time is the wall clock at each batch (order-publisher.ts sets it).
    startTs: Date.now(),
  });

  const connections: NatsConnection[] = [];
  let feed: FeedClients | null = null;
  try {
    const nc = await connect({ servers: target.natsUrl, name: "tierstream-loadtest", maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    connections.push(nc);
    // Probes and stats on a connection of their own: they never queue behind the bulk.
    const side = await connect({ servers: target.natsUrl, name: "tierstream-loadtest-probes", maxReconnectAttempts: -1, reconnectTimeWait: 250 });
    connections.push(side);
    // The load test never creates streams: a deployment without ORDERS is a wrong --nats.
    await (await jetstreamManager(nc)).streams.info(STREAM_ORDERS).catch((err: Error) => {
      throw new Error(`${target.natsUrl} has no ${STREAM_ORDERS} stream (is it a tierstream deployment? start an engine first): ${err.message}`);
    });

    let probes: ProbeSender | null = null;
    let probeCapacity = 0;
    if (target.gatewayUrls.length > 0 && o.connections > 0) {
      const ids = probeMemberIds(o.probeMembers);
      const others = Array.from({ length: o.connections - o.probeMembers }, (_, i) => gen.memberOfRank(i + 1));
      feed = await startFeedClients(target.gatewayUrls, target.jwtSecret ?? "", ids, others, ctx.log);
      if (feed.probeMembers.length > 0) {
        const capacityProbe = new ProbeSender(jetstream(side), config, feed.probeMembers, 0);
        const rate = o.probeRate ?? Math.min(PROBE_RATE_DEFAULT_MAX, capacityProbe.capacity / durationS);
        probes = new ProbeSender(jetstream(side), config, feed.probeMembers, rate);
        probeCapacity = probes.capacity;
        ctx.log(`probes: ${feed.probeMembers.length} probe members, ${rate.toFixed(1)} probes/s (capacity ${probes.capacity}); clients' clock − ours = ${feed.skewMs.toFixed(3)} ms`);
      }
    }

    const expectedEngines = target.local?.engines.length;
    const applied = new AppliedCounter();
    applied.baseline(await gatherEngineStats(side, expectedEngines));

    const t0 = performance.now();
    const wallStart = wallNowMs();
    const now = () => performance.now() - t0;
    const publisher = new OrderPublisher(nc, gen, config.partitions, timeline, now, {
      ordersPerMessage: o.ordersPerMessage,
      inFlightMax: o.inFlightMax,
      ackTimeoutMs: 10_000,
    });
    const pacer = new Pacer(profile, publisher, timeline, { ...PACER_DEFAULTS, now, onTick: (ms) => probes?.sendDue(ms) });
    const interrupt = () => pacer.stop();
    ctx.interrupted.addEventListener("abort", interrupt, { once: true });
    const event = (what: string) => {
      events.push({ tMs: now(), what });
      ctx.log(`event at ${(now() / 1000).toFixed(1)} s: ${what}`);
    };

    let appliedTotal: number | null = null;
    let probesReceived = 0;
    // Written by the per-second loop (an object, so the reads after it are not narrowed to null).
    const lastTake: { value: FeedTake | null } = { value: null };
    let stopSeconds = false;
    const seconds = (async () => {
      let cpuLast = process.cpuUsage();
      for (let s = 1; !stopSeconds; s++) {
        const wait = s * 1000 - now();
        if (wait > 0) await Bun.sleep(wait);
        const at = s * 1000 - 1; // everything read now belongs to the second that just ended
        const cpu = process.cpuUsage(cpuLast);
        cpuLast = process.cpuUsage();
        timeline.count("cpuMs", at, (cpu.user + cpu.system) / 1000);
        const total = applied.update(await gatherEngineStats(side, expectedEngines));
        if (total !== null) {
          timeline.count("applied", at, total - (appliedTotal ?? 0));
          appliedTotal = total;
        }
        if (feed !== null) {
          const { samples, last } = await feed.take().catch(() => ({ samples: [] as [number, number][], last: lastTake.value }));
          lastTake.value = last;
          for (const [sent, latency] of samples) timeline.latency("e2e", sent - wallStart, latency);
          probesReceived += samples.length;
        }
        const phase = s <= durationS ? "load" : "drain";
        const lines = liveLine({
          row: timeline.row(s - 1),
          durationS,
          phase,
          ack: timeline.stats("ack"),
          e2e: timeline.stats("e2e"),
          errorsSoFar: timeline.total("errors") + (probes?.errors ?? 0),
        });
        for (const l of lines) ctx.print(l);
        if (phase === "load" && hooks.onSecond) await hooks.onSecond(s, event);
      }
    })();

    await pacer.run();
    ctx.interrupted.removeEventListener("abort", interrupt);
    const offered = pacer.offered;
    const interruptedAtS = ctx.interrupted.aborted ? now() / 1000 : null;
    if (interruptedAtS !== null) {
      event("interrupted (SIGINT/SIGTERM): the load stopped early");
      durationS = Math.max(1, Math.ceil(interruptedAtS));
      // The last second was asked for only up to the interruption.
      const endMs = interruptedAtS * 1000;
      timeline.count("requested", endMs, profile.ordersBy(endMs) - profile.ordersBy(Math.min(profile.durationMs, durationS * 1000)));
    }

    // Drain: every PubAck, the engines' applied count, the probes' frames — or the deadline.
    const d0 = performance.now();
    const drainMs = interruptedAtS === null ? o.drainS * 1000 : Math.min(o.drainS * 1000, INTERRUPTED_DRAIN_MS);
    const drainUntil = d0 + drainMs;
    const acks = await publisher.drain(drainMs);
    const appliedDone = () => appliedTotal === null || appliedTotal >= timeline.total("acked") + (probes?.acked ?? 0);
    const probesDone = () => probes === null || probesReceived >= probes.acked;
    while ((!appliedDone() || !probesDone()) && performance.now() < drainUntil) await Bun.sleep(DRAIN_POLL_MS);
    stopSeconds = true;
    await seconds;
    const drainTookMs = performance.now() - d0;
    publisher.close();

    let ackedInWindow = 0;
    for (let s = 0; s < durationS; s++) ackedInWindow += timeline.counter("acked", s);
    return {
      timeline,
      profile,
      durationS,
      interruptedAtS,
      startedAt: new Date(performance.timeOrigin + t0).toISOString(),
      events,
      offered,
      ackedInWindow,
      messages: publisher.messages,
      firstError: publisher.firstError,
      probes:
        probes === null
          ? null
          : {
              members: feed?.probeMembers.length ?? 0,
              ratePerSec: probes.ratePerSec,
              capacity: probeCapacity,
              sent: probes.sent,
              acked: probes.acked,
              errors: probes.errors,
              received: probesReceived,
              exhausted: probes.exhausted,
            },
      feed:
        feed === null ? null : feedSummary(o.connections, feed, lastTake.value),
      drain: { ms: drainTookMs, acks, applied: appliedTotal === null ? null : appliedDone(), probes: probes === null ? null : probesDone() },
    };
  } finally {
    await feed?.stop().catch(() => {});
    for (const c of connections) await c.drain().catch(() => c.close().catch(() => {}));
  }
}
