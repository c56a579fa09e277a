// gateway-reads: GET /v1/members/:id against a local Redis GET, at the same concurrency.
//
// 1. nats-server, an engine and a gateway, each its own process (loadtest/stack/stack.ts).
// 2. ORDERS gets SEED_ORDERS orders of the realistic population over MEMBERS members (the
//    last hour of event time), and the engine applies them all: every id read exists.
// 3. wrk (one thread, CONNECTIONS connections, --latency) with a Lua script that cycles through
//    the MEMBERS ids, `Authorization: Bearer <a read key>`: WARM_UP_S, then MEASURE_S measured.
//    The gateway's /metrics counters (tierstream_member_cache_total) are read before and
//    after the measured run: the share of requests its member cache answered (a view stays
//    cached until the engine's view notices say it changed: gateway/member-cache.ts).
// 4. The stack stops; redis-server (no persistence) starts; redis-benchmark fills MEMBERS keys
//    with values the size of an average member view, then `-t get -c CONNECTIONS -P 1
//    -r MEMBERS`, sized from a short calibration run to last about MEASURE_S.
//    Then three shorter wrk runs: 100 hot ids, ids drawn at random, and the cycle again while
//    orders for the same members arrive.
// Both load generators are single-threaded C on the same 2 cores as their server.

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
import { type RedisBenchResult, redisBenchmark, startRedis } from "../stack/redis.ts";
import { startStack, type Stack } from "../stack/stack.ts";
import { runWrk, type WrkResult, writeCyclingScript, writeRandomScript } from "../stack/wrk.ts";
import { type BenchContext, type BenchModule, compared, type RowDraft } from "./types.ts";

const MEMBERS = 10_000;
const SEED_ORDERS = 200_000;
const PARTITIONS = 64;
const CONNECTIONS = 64;
const WARM_UP_S = 3;
const MEASURE_S = 10;
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

interface GatewayRead {
  wrk: WrkResult;
  cacheHits: number;
  cacheMisses: number;
  hot: WrkResult;
  hotHitShare: number;
  random: WrkResult;
  randomHitShare: number;
  churn: WrkResult;
  churnHitShare: number;
  churnOrders: number;
  viewBytes: number;
  cpu: { gateway: number; engine: number; nats: number; wrk: number; foreign: number; steal: number };
}

interface RedisRead {
  result: RedisBenchResult;
  requests: number;
  cpu: number;
  benchmarkCpu: number;
  foreign: number;
  steal: number;
  version: string;
}

async function run(ctx: BenchContext): Promise<RowDraft[]> {
  const wrk = ensureTool("wrk", "wrk", ctx.log);
  const redisServer = ensureTool("redis-server", "redis-server", ctx.log);
  const redisBench = ensureTool("redis-benchmark", "redis-server", ctx.log);
  const redisCli = ensureTool("redis-cli", "redis-tools", ctx.log);
  const members = Math.max(100, Math.round(MEMBERS * ctx.scale));
  const orders = Math.max(1000, Math.round(SEED_ORDERS * ctx.scale));
  const measureS = Math.max(2, Math.round(MEASURE_S * Math.sqrt(ctx.scale)));
  const dir = mkdtempSync(join(tmpdir(), "tierstream-reads-"));
  try {
    const gw = await readGateway(ctx, wrk, dir, members, orders, measureS);
    const redis = await readRedis(ctx, redisServer, redisCli, redisBench, members, gw.viewBytes, measureS);
    return rows(ctx, gw, redis, members, orders, measureS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function rows(ctx: BenchContext, gw: GatewayRead, redis: RedisRead, members: number, orders: number, measureS: number): RowDraft[] {
  const w = gw.wrk;
  const r = redis.result;
  const lookups = gw.cacheHits + gw.cacheMisses;
  const hitShare = lookups === 0 ? Number.NaN : gw.cacheHits / lookups;
  ctx.note(
    `gateway-reads: ${members.toLocaleString("en")} members, each given orders first (${orders.toLocaleString("en")} orders of the realistic population, ` +
      `the last hour of event time, all applied by the engine before the reads). wrk ${CONNECTIONS} connections, 1 thread, a Lua script cycling through ` +
      `every member id in turn with a read-scoped API key; ${WARM_UP_S} s warm-up, then ${measureS} s measured. Member views average ${gw.viewBytes} bytes of JSON.`,
  );
  ctx.note(
    `gateway-reads: of ${lookups.toLocaleString("en")} member-cache lookups in the measured run, ${(hitShare * 100).toFixed(1)} % were hits ` +
      `(tierstream_member_cache_total): the cycle visits each id every ${((members / w.requestsPerSec) * 1000).toFixed(0)} ms, and a view stays cached ` +
      `until the engine's view notices list its member (no orders arrive during the reads), so the rest were NATS requests to the engine. ` +
      `Non-2xx responses: ${w.non2xx}; socket errors: ${w.socketErrors}.`,
  );
  ctx.note(
    `gateway-reads: the "hot members" rows are a second wrk run, ${HOT_MEASURE_S} s right after, cycling through ${HOT_MEMBERS} of the ids: ` +
      `the path the member cache answers (${(gw.hotHitShare * 100).toFixed(1)} % hits). Non-2xx + socket errors there: ${gw.hot.non2xx + gw.hot.socketErrors}.`,
  );
  ctx.note(
    `gateway-reads: the "random ids" rows are a third wrk run, ${RANDOM_MEASURE_S} s after that, each request for an id drawn uniformly at random ` +
      `from all ${members.toLocaleString("en")}, as redis-benchmark -r draws its keys (${(gw.randomHitShare * 100).toFixed(1)} % cache hits). ` +
      `The target stays on the first run, whose cycle visits each id at the longest interval its rate allows. ` +
      `Non-2xx + socket errors there: ${gw.random.non2xx + gw.random.socketErrors}.`,
  );
  ctx.note(
    `gateway-reads: the "while orders arrive" rows are a fourth wrk run, ${CHURN_MEASURE_S} s of the first run's cycle while the benchmark publishes ` +
      `${gw.churnOrders.toLocaleString("en")} orders for the same members (${CHURN_ORDERS_PER_S.toLocaleString("en")}/s, Zipf-popular, event time = wall time): ` +
      `each changes a view, the engine's view notice drops it from the cache, and the next read of it asks the engine ` +
      `(${(gw.churnHitShare * 100).toFixed(1)} % hits). Non-2xx + socket errors there: ${gw.churn.non2xx + gw.churn.socketErrors}.`,
  );
  ctx.note(
    `gateway-reads: CPU per wall second during the measured run — gateway ${gw.cpu.gateway.toFixed(2)}, engine ${gw.cpu.engine.toFixed(2)}, ` +
      `nats-server ${gw.cpu.nats.toFixed(2)}, wrk ${gw.cpu.wrk.toFixed(2)}, processes outside this benchmark ${gw.cpu.foreign.toFixed(2)}, stolen by the hypervisor ${gw.cpu.steal.toFixed(2)}; ` +
      `redis-server ${redis.cpu.toFixed(2)}, redis-benchmark ${redis.benchmarkCpu.toFixed(2)}, processes outside this benchmark ${redis.foreign.toFixed(2)}, stolen ${redis.steal.toFixed(2)}.`,
  );
  ctx.note(
    `gateway-reads: redis-server ${redis.version} (--save "" --appendonly no), ${members.toLocaleString("en")} keys of ${gw.viewBytes} bytes; ` +
      `redis-benchmark -t get -c ${CONNECTIONS} -P 1 -r ${members} -d ${gw.viewBytes} -n ${redis.requests.toLocaleString("en")} --csv. ` +
      `FIGURES.md: Redis 7 GET ≈ 103 k req/s, Hono on Bun.serve with a JSON answer from memory ≈ 129 k req/s (wrk -t1 -c64), on this kind of machine.`,
  );
  const redisCeiling = { name: "Redis GET", value: r.rps };
  return [
    compared(
      {
        metric: "GET /v1/members/:id",
        value: w.requestsPerSec,
        unit: "req/s",
        ceiling: redisCeiling,
        target: "≥ 1.0 × Redis GET throughput",
      },
      { ratioAtLeast: 1 },
    ),
    compared({ metric: "GET /v1/members/:id latency p50 (wrk)", value: w.p50Ms, unit: "ms", ceiling: { name: "Redis GET p50", value: r.p50Ms } }),
    compared({ metric: "GET /v1/members/:id latency p99 (wrk)", value: w.p99Ms, unit: "ms", ceiling: { name: "Redis GET p99", value: r.p99Ms } }),
    { metric: "GET /v1/members/:id latency max (wrk)", value: w.maxMs, unit: "ms" },
    { metric: "member cache hits (share of lookups in the measured run)", value: hitShare * 100, unit: "%" },
    compared({ metric: `GET /v1/members/:id, ${HOT_MEMBERS} hot members (cache hits)`, value: gw.hot.requestsPerSec, unit: "req/s", ceiling: redisCeiling }),
    { metric: `GET /v1/members/:id, ${HOT_MEMBERS} hot members: latency p99`, value: gw.hot.p99Ms, unit: "ms" },
    { metric: `GET /v1/members/:id, ${HOT_MEMBERS} hot members: cache hits`, value: gw.hotHitShare * 100, unit: "%" },
    compared({ metric: "GET /v1/members/:id, ids drawn at random (as redis-benchmark -r)", value: gw.random.requestsPerSec, unit: "req/s", ceiling: redisCeiling }),
    { metric: "GET /v1/members/:id, ids drawn at random: latency p99", value: gw.random.p99Ms, unit: "ms" },
    { metric: "GET /v1/members/:id, ids drawn at random: cache hits", value: gw.randomHitShare * 100, unit: "%" },
    compared({
      metric: `GET /v1/members/:id while ${CHURN_ORDERS_PER_S.toLocaleString("en")} orders/s arrive (the cycle)`,
      value: gw.churn.requestsPerSec,
      unit: "req/s",
      ceiling: redisCeiling,
    }),
    { metric: `GET /v1/members/:id while orders arrive: latency p99`, value: gw.churn.p99Ms, unit: "ms" },
    { metric: `GET /v1/members/:id while orders arrive: cache hits`, value: gw.churnHitShare * 100, unit: "%" },
    { metric: "non-2xx responses + socket errors", value: w.non2xx + w.socketErrors, unit: "responses" },
    { metric: "Redis GET (redis-benchmark)", value: r.rps, unit: "req/s" },
    { metric: "Redis GET latency p50", value: r.p50Ms, unit: "ms" },
    { metric: "Redis GET latency p99", value: r.p99Ms, unit: "ms" },
    { metric: "Redis GET latency max", value: r.maxMs, unit: "ms" },
  ];
}

async function readGateway(ctx: BenchContext, wrk: string, dir: string, members: number, orders: number, measureS: number): Promise<GatewayRead> {
  const stack = await startStack(ctx);
  try {
    const ids = await seedMembers(ctx, stack, members, orders);
    const auth = { authorization: `Bearer ${stack.readKey}` };
    const viewBytes = await averageViewBytes(stack, ids, auth);
    const script = writeCyclingScript(dir, "/v1/members/", ids, { Authorization: auth.authorization });
    ctx.log(`gateway-reads: wrk warm-up ${WARM_UP_S} s`);
    await runWrk(wrk, { url: stack.httpUrl, script, connections: CONNECTIONS, durationS: WARM_UP_S });
    const before = cacheCounts(await stack.gateway.request<string>("metrics"));
    const pids = { gateway: stack.gateway.pid, engine: stack.engine.pid, nats: stack.nats.pid };
    const cpu0 = { gateway: processCpuS(pids.gateway), engine: processCpuS(pids.engine), nats: processCpuS(pids.nats) };
    const foreign = foreignCpuSpan([pids.gateway, pids.engine, pids.nats, process.pid]);
    const t0 = performance.now();
    ctx.log(`gateway-reads: wrk ${measureS} s`);
    const result = await runWrk(wrk, { url: stack.httpUrl, script, connections: CONNECTIONS, durationS: measureS });
    const wallS = (performance.now() - t0) / 1000;
    const outside = foreign(result.cpuS);
    const cpu = {
      gateway: (processCpuS(pids.gateway) - cpu0.gateway) / wallS,
      engine: (processCpuS(pids.engine) - cpu0.engine) / wallS,
      nats: (processCpuS(pids.nats) - cpu0.nats) / wallS,
      wrk: result.cpuS / wallS,
      foreign: outside.foreign,
      steal: outside.steal,
    };
    const after = cacheCounts(await stack.gateway.request<string>("metrics"));
    ctx.log(`gateway-reads: ${result.requestsPerSec.toFixed(0)} req/s, p99 ${result.p99Ms} ms`);

    const hotScript = writeCyclingScript(dir, "/v1/members/", ids.slice(0, HOT_MEMBERS), { Authorization: auth.authorization });
    ctx.log(`gateway-reads: wrk ${HOT_MEASURE_S} s over ${HOT_MEMBERS} hot members`);
    const hot = await runWrk(wrk, { url: stack.httpUrl, script: hotScript, connections: CONNECTIONS, durationS: HOT_MEASURE_S });
    const afterHot = cacheCounts(await stack.gateway.request<string>("metrics"));
    const hotHitShare = (afterHot.hit - after.hit) / (afterHot.hit - after.hit + afterHot.miss - after.miss);

    const randomScript = writeRandomScript(dir, "/v1/members/", ids, { Authorization: auth.authorization }, ctx.seed);
    ctx.log(`gateway-reads: wrk ${RANDOM_MEASURE_S} s over every id drawn at random`);
    const random = await runWrk(wrk, { url: stack.httpUrl, script: randomScript, connections: CONNECTIONS, durationS: RANDOM_MEASURE_S });
    const afterRandom = cacheCounts(await stack.gateway.request<string>("metrics"));
    const randomHitShare = (afterRandom.hit - afterHot.hit) / (afterRandom.hit - afterHot.hit + afterRandom.miss - afterHot.miss);

    ctx.log(`gateway-reads: wrk ${CHURN_MEASURE_S} s cycling while ${CHURN_ORDERS_PER_S} orders/s arrive`);
    const [churn, churnOrders] = await Promise.all([
      runWrk(wrk, { url: stack.httpUrl, script, connections: CONNECTIONS, durationS: CHURN_MEASURE_S }),
      publishWhileReading(ctx, stack, members, CHURN_MEASURE_S * 1000),
    ]);
    const afterChurn = cacheCounts(await stack.gateway.request<string>("metrics"));
    const churnHitShare = (afterChurn.hit - afterRandom.hit) / (afterChurn.hit - afterRandom.hit + afterChurn.miss - afterRandom.miss);
    return {
      wrk: result,
      cacheHits: after.hit - before.hit,
      cacheMisses: after.miss - before.miss,
      hot,
      hotHitShare,
      random,
      randomHitShare,
      churn,
      churnHitShare,
      churnOrders,
      viewBytes,
      cpu,
    };
  } finally {
    await stack.stop();
  }
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

async function readRedis(
  ctx: BenchContext,
  redisServer: string,
  redisCli: string,
  redisBench: string,
  members: number,
  valueBytes: number,
  measureS: number,
): Promise<RedisRead> {
  const redis = await startRedis(redisServer, redisCli);
  try {
    const common = ["-c", String(CONNECTIONS), "-P", "1", "-r", String(members), "-d", String(valueBytes)];
    // Every key of the range set (20 writes per key: a key missed is e^-20 likely).
    await redisBenchmark(redisBench, redis.port, ["-t", "set", ...common, "-n", String(members * 20)], 60);
    const calibration = await redisBenchmark(redisBench, redis.port, ["-t", "get", ...common, "-n", String(REDIS_CALIBRATION_REQUESTS)], 60);
    const requests = Math.min(REDIS_REQUESTS_MAX, Math.round(calibration.rps * measureS));
    ctx.log(`gateway-reads: redis-benchmark GET, ${requests} requests`);
    const cpu0 = processCpuS(redis.pid);
    const foreign = foreignCpuSpan([redis.pid, process.pid]);
    const t0 = performance.now();
    const result = await redisBenchmark(redisBench, redis.port, ["-t", "get", ...common, "-n", String(requests)], measureS * 3 + 30);
    const wallS = (performance.now() - t0) / 1000;
    const cpu = (processCpuS(redis.pid) - cpu0) / wallS;
    ctx.log(`gateway-reads: redis ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms} ms`);
    const f = foreign(result.cpuS);
    return { result, requests, cpu, benchmarkCpu: result.cpuS / wallS, foreign: f.foreign, steal: f.steal, version: redisVersion(redisServer) };
  } finally {
    await redis.stop();
  }
}

function redisVersion(redisServer: string): string {
  const out = Bun.spawnSync([redisServer, "--version"]).stdout.toString();
  return /v=(\S+)/.exec(out)?.[1] ?? "unknown";
}
