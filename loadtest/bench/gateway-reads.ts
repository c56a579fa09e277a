// gateway-reads: GET /v1/members/:id against a local Redis GET, at the same concurrency.
//
// 1. nats-server, an engine and a gateway, each its own process (loadtest/stack/stack.ts).
// 2. ORDERS gets SEED_ORDERS orders of the realistic population over MEMBERS members (the
//    last hour of event time), and the engine applies them all: every id read exists.
// 3. redis-server (no persistence) starts beside them; redis-benchmark fills MEMBERS keys with
//    values the size of an average member view and a short calibration run sizes its rounds.
// 4. ROUNDS rounds, the gateway's and Redis's alternating (G R, R G, G R …), ROUND_S each:
//    wrk (one thread, CONNECTIONS connections, --latency) with a Lua script that cycles through
//    the MEMBERS ids, `Authorization: Bearer <a read key>`, after WARM_UP_S of warm-up; and
//    `redis-benchmark -t get -c CONNECTIONS -P 1 -r MEMBERS`. Round k of one side ran next to
//    round k of the other, so their ratio compares the two on the same stretch of this shared
//    machine; the figure is the pair whose ratio is the median.
//    The gateway's /metrics counters (tierstream_member_cache_total) are read around each of
//    its rounds: the share of requests its member cache answered (a view stays cached until
//    the engine's view notices say it changed: gateway/member-cache.ts).
// 5. Redis stops; three shorter wrk runs: 100 hot ids, ids drawn at random, and the cycle
//    again while orders for the same members arrive.
// Both load generators are single-threaded C on the same 2 cores as their server; the side
// not being measured sits idle.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureStreams } from "../../proto/streams.ts";
import { processCpuS } from "../cpu-time.ts";
import { interleave } from "../interleave.ts";
import { OrderGenerator } from "../population.ts";
import { publishSchedule } from "../publish.ts";
import { ensureTool } from "../stack/debian.ts";
import { foreignCpuSpan } from "../stack/machine-cpu.ts";
import type { EngineCountersReply } from "../stack/engine-role.ts";
import { type RedisBenchResult, type RedisServer, redisBenchmark, startRedis } from "../stack/redis.ts";
import { startStack, type Stack } from "../stack/stack.ts";
import { runWrk, type WrkResult, writeCyclingScript, writeRandomScript } from "../stack/wrk.ts";
import { type BenchContext, type BenchModule, compared, type RowDraft } from "./types.ts";

const MEMBERS = 10_000;
const SEED_ORDERS = 200_000;
const PARTITIONS = 64;
const CONNECTIONS = 64;
const WARM_UP_S = 3;
/** Rounds per side, alternating; an odd count, so the median pair is one of them. */
const ROUNDS = 5;
const ROUND_S = 6;
const APPLY_DEADLINE_MS = 60_000;
const VIEW_SAMPLES = 200;
const REDIS_CALIBRATION_REQUESTS = 200_000;
const REDIS_REQUESTS_MAX = 5_000_000;
const HOUR_MS = 3_600_000;
/** A second, smaller run over this many ids: the path the member cache answers. */
const HOT_MEMBERS = 100;
const HOT_MEASURE_S = 5;
/**
 * A third run, over every id drawn at random as redis-benchmark -r draws its keys: the same
 * access pattern as the peer's. The target stays on the first run, which visits each id at
 * the longest interval the rate allows.
 */
const RANDOM_MEASURE_S = 5;
/**
 * A fourth run: the cycle again while orders for the same members arrive, so views change
 * under the reads and the cache learns it from the engine's view notices.
 */
const CHURN_ORDERS_PER_S = 5_000;
const CHURN_MEASURE_S = 5;
const CHURN_TICK_MS = 100;

export const gatewayReadsBench: BenchModule = {
  name: "gateway-reads",
  description: `GET /v1/members/:id requests/s and latency (wrk -t1 -c${CONNECTIONS}) beside redis-benchmark -t get on a local Redis at the same concurrency`,
  run,
};

/** One measured wrk run of the cycle: its figures, the cache counts around it, CPU seconds per process. */
interface GatewayRound {
  wrk: WrkResult;
  cacheHits: number;
  cacheMisses: number;
  wallS: number;
  cpuS: { gateway: number; engine: number; nats: number; wrk: number; foreign: number; steal: number };
}

/** One measured redis-benchmark run: its figures and CPU seconds. */
interface RedisRound {
  result: RedisBenchResult;
  wallS: number;
  cpuS: { server: number; benchmark: number; foreign: number; steal: number };
}

interface Reads {
  gateway: GatewayRound[];
  redis: RedisRound[];
  /** "G" or "R" per measured run, in the order they ran. */
  order: string;
  redisRequests: number;
  redisVersion: string;
  hot: WrkResult;
  hotHitShare: number;
  random: WrkResult;
  randomHitShare: number;
  churn: WrkResult;
  churnHitShare: number;
  churnOrders: number;
  viewBytes: number;
}

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const wrk = ensureTool("wrk", "wrk", ctx.log);
  const redisServer = ensureTool("redis-server", "redis-server", ctx.log);
  const redisBench = ensureTool("redis-benchmark", "redis-server", ctx.log);
  const redisCli = ensureTool("redis-cli", "redis-tools", ctx.log);
  const members = Math.max(100, Math.round(MEMBERS * ctx.scale));
  const orders = Math.max(1000, Math.round(SEED_ORDERS * ctx.scale));
  const roundS = Math.max(2, Math.round(ROUND_S * Math.sqrt(ctx.scale)));
  const dir = mkdtempSync(join(tmpdir(), "tierstream-reads-"));
  try {
    const reads = await measureReads(ctx, { wrk, redisServer, redisBench, redisCli }, dir, members, orders, roundS);
    return rows(ctx, reads, members, orders, roundS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The one of `items` whose `value` is the median (an odd count: rounds, or pairs of them). */
function medianBy<T>(items: readonly T[], value: (x: T) => number): T {
  console.assert(items.length % 2 === 1, "an odd count");
  return [...items].sort((x, y) => value(x) - value(y))[(items.length - 1) >> 1];
}

/** CPU seconds over all rounds per wall second of them. */
function perWallS<T extends { wallS: number }>(rounds: readonly T[], cpuS: (r: T) => number): number {
  return rounds.reduce((a, r) => a + cpuS(r), 0) / rounds.reduce((a, r) => a + r.wallS, 0);
}

function rows(ctx: BenchContext, reads: Reads, members: number, orders: number, roundS: number): RowDraft[] {
  // Round k of one side beside round k of the other: they ran next to each other, so the
  // machine's drift (20 % within a minute at times) cancels in their ratio, not across rounds.
  const pairs = reads.gateway.map((g, k) => ({ gateway: g.wrk, redis: reads.redis[k].result, ratio: g.wrk.requestsPerSec / reads.redis[k].result.rps }));
  const pairRatios = pairs.map((p) => p.ratio);
  const median = medianBy(pairs, (p) => p.ratio);
  const w = median.gateway;
  const r = median.redis;
  const gatewayMedian = medianBy(reads.gateway, (g) => g.wrk.requestsPerSec).wrk.requestsPerSec;
  const redisMedian = medianBy(reads.redis, (x) => x.result.rps).result.rps;
  const hits = reads.gateway.reduce((a, g) => a + g.cacheHits, 0);
  const lookups = hits + reads.gateway.reduce((a, g) => a + g.cacheMisses, 0);
  const hitShare = lookups === 0 ? Number.NaN : hits / lookups;
  const non2xx = reads.gateway.reduce((a, g) => a + g.wrk.non2xx + g.wrk.socketErrors, 0);
  const k = (x: number) => `${(x / 1000).toFixed(1)} k`;
  ctx.note(
    `gateway-reads: ${members.toLocaleString("en")} members, each given orders first (${orders.toLocaleString("en")} orders of the realistic population, ` +
      `the last hour of event time, all applied by the engine before the reads). wrk ${CONNECTIONS} connections, 1 thread, a Lua script cycling through ` +
      `every member id in turn with a read-scoped API key; ${WARM_UP_S} s warm-up. Member views average ${reads.viewBytes} bytes of JSON.`,
  );
  ctx.note(
    `gateway-reads: ${ROUNDS} rounds of ${roundS} s per side, alternating (${reads.order.split("").join(" ")}); the figure is the pair of rounds (one each, run next to each other) whose ratio is the median. ` +
      `Gateway rounds: ${reads.gateway.map((g) => k(g.wrk.requestsPerSec)).join(", ")} req/s; Redis rounds: ${reads.redis.map((x) => k(x.result.rps)).join(", ")} req/s; ` +
      `round by round the gateway made ${pairRatios.map((x) => x.toFixed(2)).join(", ")} × Redis.`,
  );
  ctx.note(
    `gateway-reads: of ${lookups.toLocaleString("en")} member-cache lookups in the gateway's rounds, ${(hitShare * 100).toFixed(1)} % were hits ` +
      `(tierstream_member_cache_total): the cycle visits each id every ${((members / w.requestsPerSec) * 1000).toFixed(0)} ms, and a view stays cached ` +
      `until the engine's view notices list its member (no orders arrive during the reads), so the rest were NATS requests to the engine. ` +
      `Non-2xx responses + socket errors: ${non2xx}.`,
  );
  ctx.note(
    `gateway-reads: the "hot members" rows are another wrk run, ${HOT_MEASURE_S} s after the rounds, cycling through ${HOT_MEMBERS} of the ids: ` +
      `the path the member cache answers (${(reads.hotHitShare * 100).toFixed(1)} % hits). Non-2xx + socket errors there: ${reads.hot.non2xx + reads.hot.socketErrors}.`,
  );
  ctx.note(
    `gateway-reads: the "random ids" rows are a wrk run of ${RANDOM_MEASURE_S} s after that, each request for an id drawn uniformly at random ` +
      `from all ${members.toLocaleString("en")}, as redis-benchmark -r draws its keys (${(reads.randomHitShare * 100).toFixed(1)} % cache hits). ` +
      `The target stays on the rounds, whose cycle visits each id at the longest interval its rate allows. ` +
      `Non-2xx + socket errors there: ${reads.random.non2xx + reads.random.socketErrors}.`,
  );
  ctx.note(
    `gateway-reads: the "while orders arrive" rows are a last wrk run, ${CHURN_MEASURE_S} s of the rounds' cycle while the benchmark publishes ` +
      `${reads.churnOrders.toLocaleString("en")} orders for the same members (${CHURN_ORDERS_PER_S.toLocaleString("en")}/s, Zipf-popular, event time = wall time): ` +
      `each changes a view, the engine's view notice drops it from the cache, and the next read of it asks the engine ` +
      `(${(reads.churnHitShare * 100).toFixed(1)} % hits). Non-2xx + socket errors there: ${reads.churn.non2xx + reads.churn.socketErrors}.`,
  );
  const gw = (pick: (c: GatewayRound["cpuS"]) => number) => perWallS(reads.gateway, (x) => pick(x.cpuS));
  const rd = (pick: (c: RedisRound["cpuS"]) => number) => perWallS(reads.redis, (x) => pick(x.cpuS));
  ctx.note(
    `gateway-reads: CPU per wall second during the rounds — gateway ${gw((c) => c.gateway).toFixed(2)}, engine ${gw((c) => c.engine).toFixed(2)}, ` +
      `nats-server ${gw((c) => c.nats).toFixed(2)}, wrk ${gw((c) => c.wrk).toFixed(2)}, processes outside this benchmark ${gw((c) => c.foreign).toFixed(2)}, ` +
      `stolen by the hypervisor ${gw((c) => c.steal).toFixed(2)}; redis-server ${rd((c) => c.server).toFixed(2)}, redis-benchmark ${rd((c) => c.benchmark).toFixed(2)}, ` +
      `processes outside this benchmark ${rd((c) => c.foreign).toFixed(2)}, stolen ${rd((c) => c.steal).toFixed(2)}.`,
  );
  ctx.note(
    `gateway-reads: redis-server ${reads.redisVersion} (--save "" --appendonly no), ${members.toLocaleString("en")} keys of ${reads.viewBytes} bytes; ` +
      `redis-benchmark -t get -c ${CONNECTIONS} -P 1 -r ${members} -d ${reads.viewBytes} -n ${reads.redisRequests.toLocaleString("en")} --csv per round. ` +
      `FIGURES.md: Redis 7 GET ≈ 103 k req/s, Hono on Bun.serve with a JSON answer from memory ≈ 129 k req/s (wrk -t1 -c64), on this kind of machine.`,
  );
  const redisCeiling = { name: "Redis GET", value: r.rps };
  return [
    compared(
      {
        metric: "GET /v1/members/:id (the round pair with the median ratio)",
        value: w.requestsPerSec,
        unit: "req/s",
        ceiling: { name: "Redis GET, the same pair", value: r.rps },
        target: "≥ 1.0 × Redis GET throughput",
      },
      { ratioAtLeast: 1 },
    ),
    { metric: "gateway ÷ Redis, round by round: lowest", value: Math.min(...pairRatios), unit: "×" },
    { metric: "gateway ÷ Redis, round by round: highest", value: Math.max(...pairRatios), unit: "×" },
    compared({ metric: "GET /v1/members/:id, each side's median round", value: gatewayMedian, unit: "req/s", ceiling: { name: "Redis GET, its median round", value: redisMedian } }),
    compared({ metric: "GET /v1/members/:id latency p50 (wrk, median pair)", value: w.p50Ms, unit: "ms", ceiling: { name: "Redis GET p50", value: r.p50Ms } }),
    compared({ metric: "GET /v1/members/:id latency p99 (wrk, median pair)", value: w.p99Ms, unit: "ms", ceiling: { name: "Redis GET p99", value: r.p99Ms } }),
    { metric: "GET /v1/members/:id latency max (wrk, median pair)", value: w.maxMs, unit: "ms" },
    { metric: "member cache hits (share of lookups in the gateway's rounds)", value: hitShare * 100, unit: "%" },
    compared({ metric: `GET /v1/members/:id, ${HOT_MEMBERS} hot members (cache hits)`, value: reads.hot.requestsPerSec, unit: "req/s", ceiling: redisCeiling }),
    { metric: `GET /v1/members/:id, ${HOT_MEMBERS} hot members: latency p99`, value: reads.hot.p99Ms, unit: "ms" },
    { metric: `GET /v1/members/:id, ${HOT_MEMBERS} hot members: cache hits`, value: reads.hotHitShare * 100, unit: "%" },
    compared({ metric: "GET /v1/members/:id, ids drawn at random (as redis-benchmark -r)", value: reads.random.requestsPerSec, unit: "req/s", ceiling: redisCeiling }),
    { metric: "GET /v1/members/:id, ids drawn at random: latency p99", value: reads.random.p99Ms, unit: "ms" },
    { metric: "GET /v1/members/:id, ids drawn at random: cache hits", value: reads.randomHitShare * 100, unit: "%" },
    compared({
      metric: `GET /v1/members/:id while ${CHURN_ORDERS_PER_S.toLocaleString("en")} orders/s arrive (the cycle)`,
      value: reads.churn.requestsPerSec,
      unit: "req/s",
      ceiling: redisCeiling,
    }),
    { metric: `GET /v1/members/:id while orders arrive: latency p99`, value: reads.churn.p99Ms, unit: "ms" },
    { metric: `GET /v1/members/:id while orders arrive: cache hits`, value: reads.churnHitShare * 100, unit: "%" },
    { metric: "non-2xx responses + socket errors (rounds)", value: non2xx, unit: "responses" },
    { metric: "Redis GET (redis-benchmark, median pair)", value: r.rps, unit: "req/s" },
    { metric: "Redis GET latency p50", value: r.p50Ms, unit: "ms" },
    { metric: "Redis GET latency p99", value: r.p99Ms, unit: "ms" },
    { metric: "Redis GET latency max", value: r.maxMs, unit: "ms" },
  ];
}

interface Tools {
  wrk: string;
  redisServer: string;
  redisBench: string;
  redisCli: string;
}

async function measureReads(ctx: BenchContext, tools: Tools, dir: string, members: number, orders: number, roundS: number): Promise<Reads> {
  const stack = await startStack(ctx);
  try {
    const ids = await seedMembers(ctx, stack, members, orders);
    const auth = { authorization: `Bearer ${stack.readKey}` };
    const viewBytes = await averageViewBytes(stack, ids, auth);
    const script = writeCyclingScript(dir, "/v1/members/", ids, { Authorization: auth.authorization });
    const url = stack.httpUrl;
    ctx.log(`gateway-reads: wrk warm-up ${WARM_UP_S} s`);
    await runWrk(tools.wrk, { url, script, connections: CONNECTIONS, durationS: WARM_UP_S });

    const redis = await startRedis(tools.redisServer, tools.redisCli);
    const gateway: GatewayRound[] = [];
    const redisRounds: RedisRound[] = [];
    let order = "";
    let redisRequests: number;
    try {
      const common = ["-c", String(CONNECTIONS), "-P", "1", "-r", String(members), "-d", String(viewBytes)];
      // Every key of the range set (20 writes per key: a key missed is e^-20 likely).
      await redisBenchmark(tools.redisBench, redis.port, ["-t", "set", ...common, "-n", String(members * 20)], 60);
      const calibration = await redisBenchmark(tools.redisBench, redis.port, ["-t", "get", ...common, "-n", String(REDIS_CALIBRATION_REQUESTS)], 60);
      redisRequests = Math.min(REDIS_REQUESTS_MAX, Math.round(calibration.rps * roundS));
      const gatewayRound = async () => {
        gateway.push(await measureGatewayRound(ctx, stack, tools.wrk, script, roundS));
        order += "G";
      };
      const redisRound = async () => {
        redisRounds.push(await measureRedisRound(ctx, tools.redisBench, redis, [...common, "-n", String(redisRequests)], roundS));
        order += "R";
      };
      // G R, R G, G R, …: neither side always goes first.
      for (let k = 0; k < ROUNDS; k++) {
        if (k % 2 === 0) await gatewayRound().then(redisRound);
        else await redisRound().then(gatewayRound);
      }
    } finally {
      await redis.stop();
    }

    const before = cacheCounts(await stack.gateway.request<string>("metrics"));
    const hotScript = writeCyclingScript(dir, "/v1/members/", ids.slice(0, HOT_MEMBERS), { Authorization: auth.authorization });
    ctx.log(`gateway-reads: wrk ${HOT_MEASURE_S} s over ${HOT_MEMBERS} hot members`);
    const hot = await runWrk(tools.wrk, { url, script: hotScript, connections: CONNECTIONS, durationS: HOT_MEASURE_S });
    const afterHot = cacheCounts(await stack.gateway.request<string>("metrics"));

    const randomScript = writeRandomScript(dir, "/v1/members/", ids, { Authorization: auth.authorization }, ctx.seed);
    ctx.log(`gateway-reads: wrk ${RANDOM_MEASURE_S} s over every id drawn at random`);
    const random = await runWrk(tools.wrk, { url, script: randomScript, connections: CONNECTIONS, durationS: RANDOM_MEASURE_S });
    const afterRandom = cacheCounts(await stack.gateway.request<string>("metrics"));

    ctx.log(`gateway-reads: wrk ${CHURN_MEASURE_S} s cycling while ${CHURN_ORDERS_PER_S} orders/s arrive`);
    const [churn, churnOrders] = await Promise.all([
      runWrk(tools.wrk, { url, script, connections: CONNECTIONS, durationS: CHURN_MEASURE_S }),
      publishWhileReading(ctx, stack, members, CHURN_MEASURE_S * 1000),
    ]);
    const afterChurn = cacheCounts(await stack.gateway.request<string>("metrics"));
    return {
      gateway,
      redis: redisRounds,
      order,
      redisRequests,
      redisVersion: redisVersion(tools.redisServer),
      hot,
      hotHitShare: hitShareBetween(before, afterHot),
      random,
      randomHitShare: hitShareBetween(afterHot, afterRandom),
      churn,
      churnHitShare: hitShareBetween(afterRandom, afterChurn),
      churnOrders,
      viewBytes,
    };
  } finally {
    await stack.stop();
  }
}

async function measureGatewayRound(ctx: BenchContext, stack: Stack, wrk: string, script: string, roundS: number): Promise<GatewayRound> {
  const before = cacheCounts(await stack.gateway.request<string>("metrics"));
  const pids = [stack.gateway.pid, stack.engine.pid, stack.nats.pid];
  const cpu0 = pids.map((p) => processCpuS(p));
  const foreign = foreignCpuSpan([...pids, process.pid]);
  const t0 = performance.now();
  ctx.log(`gateway-reads: wrk ${roundS} s`);
  const result = await runWrk(wrk, { url: stack.httpUrl, script, connections: CONNECTIONS, durationS: roundS });
  const wallS = (performance.now() - t0) / 1000;
  const outside = foreign(result.cpuS);
  const [gateway, engine, nats] = pids.map((p, i) => processCpuS(p) - cpu0[i]);
  const after = cacheCounts(await stack.gateway.request<string>("metrics"));
  ctx.log(`gateway-reads: ${result.requestsPerSec.toFixed(0)} req/s, p99 ${result.p99Ms} ms`);
  return {
    wrk: result,
    cacheHits: after.hit - before.hit,
    cacheMisses: after.miss - before.miss,
    wallS,
    cpuS: { gateway, engine, nats, wrk: result.cpuS, foreign: outside.foreign * wallS, steal: outside.steal * wallS },
  };
}

async function measureRedisRound(ctx: BenchContext, redisBench: string, redis: RedisServer, args: string[], roundS: number): Promise<RedisRound> {
  ctx.log(`gateway-reads: redis-benchmark GET, ${args[args.length - 1]} requests`);
  const cpu0 = processCpuS(redis.pid);
  const foreign = foreignCpuSpan([redis.pid, process.pid]);
  const t0 = performance.now();
  const result = await redisBenchmark(redisBench, redis.port, ["-t", "get", ...args], roundS * 3 + 30);
  const wallS = (performance.now() - t0) / 1000;
  const f = foreign(result.cpuS);
  ctx.log(`gateway-reads: redis ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms} ms`);
  return { result, wallS, cpuS: { server: processCpuS(redis.pid) - cpu0, benchmark: result.cpuS, foreign: f.foreign * wallS, steal: f.steal * wallS } };
}

function hitShareBetween(a: { hit: number; miss: number }, b: { hit: number; miss: number }): number {
  return (b.hit - a.hit) / (b.hit - a.hit + b.miss - a.miss);
}

/**
 * Orders for the same members at CHURN_ORDERS_PER_S for `durationMs` (event time = wall time,
 * ids of another seed, so none is a duplicate of a seed order); the orders published.
 */
async function publishWhileReading(ctx: BenchContext, stack: Stack, members: number, durationMs: number): Promise<number> {
  const gen = new OrderGenerator({ seed: ctx.seed + 1, members, startTs: Date.now(), ratePerSec: CHURN_ORDERS_PER_S });
  const nc = await connect({ servers: stack.nats.url, name: "bench-reads-churn" });
  try {
    const js = jetstream(nc);
    const publishes: Promise<unknown>[] = [];
    const t0 = performance.now();
    let sent = 0;
    for (let k = 0; performance.now() - t0 < durationMs; k++) {
      const due = Math.floor(((performance.now() - t0) / 1000) * CHURN_ORDERS_PER_S) - sent;
      if (due > 0) {
        publishes.push(publishSchedule(js, interleave(gen.fillPartitionBatches(due, PARTITIONS, 256)), `reads-churn.${ctx.seed}.${k}`, 256));
        sent += due;
      }
      await Bun.sleep(CHURN_TICK_MS);
    }
    await Promise.all(publishes);
    return sent;
  } finally {
    await nc.close().catch(() => {});
  }
}

/** Publishes the population's orders and waits until the engine applied them; the member ids. */
async function seedMembers(ctx: BenchContext, stack: Stack, members: number, orders: number): Promise<number[]> {
  const gen = new OrderGenerator({ seed: ctx.seed, members, startTs: Date.now() - HOUR_MS, ratePerSec: orders / (HOUR_MS / 1000) });
  const schedule = interleave(gen.fillPartitionBatches(orders, PARTITIONS, 256));
  const nc = await connect({ servers: stack.nats.url, name: "bench-reads-seed" });
  try {
    await ensureStreams(await jetstreamManager(nc));
    await publishSchedule(jetstream(nc), schedule, `reads.${ctx.seed}`, 256);
  } finally {
    await nc.close().catch(() => {});
  }
  const deadline = performance.now() + APPLY_DEADLINE_MS;
  let c = await stack.engine.request<EngineCountersReply>("counters");
  while (c.eventsApplied < orders && performance.now() < deadline) {
    await Bun.sleep(100);
    c = await stack.engine.request<EngineCountersReply>("counters");
  }
  if (c.eventsApplied < orders) throw new Error(`the engine applied ${c.eventsApplied} of ${orders} seed orders in ${APPLY_DEADLINE_MS / 1000} s`);
  ctx.log(`gateway-reads: ${orders} orders applied for ${members} members`);
  return Array.from({ length: members }, (_, i) => gen.memberOfRank(i + 1));
}

async function averageViewBytes(stack: Stack, ids: number[], headers: Record<string, string>): Promise<number> {
  let bytes = 0;
  const n = Math.min(VIEW_SAMPLES, ids.length);
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${stack.httpUrl}/v1/members/${ids[i]}`, { headers, signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) throw new Error(`GET /v1/members/${ids[i]}: ${res.status} ${await res.text()}`);
    bytes += (await res.arrayBuffer()).byteLength;
  }
  return Math.round(bytes / n);
}

/** tierstream_member_cache_total{result="hit"|"miss"} from Prometheus text. */
function cacheCounts(text: string): { hit: number; miss: number } {
  const read = (result: string) => {
    const m = new RegExp(`^tierstream_member_cache_total\\{result="${result}"\\} (\\S+)$`, "m").exec(text);
    return m === null ? 0 : Number(m[1]);
  };
  return { hit: read("hit"), miss: read("miss") };
}

function redisVersion(redisServer: string): string {
  const out = Bun.spawnSync([redisServer, "--version"]).stdout.toString();
  return /v=(\S+)/.exec(out)?.[1] ?? "unknown";
}
