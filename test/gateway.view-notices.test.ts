// View notices end to end: a real engine tells a real gateway which member views changed, and
// the gateway's cache keeps a view exactly until then. The cache's plain TTL is a minute here,
// so a read can only be fresh because a notice dropped the old view.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Engine } from "../engine/engine.ts";
import { silentLogger } from "../engine/log.ts";
import type { Scope } from "../gateway/config.ts";
import { Gateway } from "../gateway/gateway.ts";
import type { GatewayMetrics } from "../gateway/metrics.ts";
import { type Order, partitionOf } from "../proto/index.ts";
import { NOTICE_SILENCE_MS } from "../proto/view-notice.ts";
import { client, type Client, eventually, publishOrders, startEngine } from "./harness/engine.ts";
import { testGatewayOptions } from "./harness/gateway.ts";
import { useNatsServer } from "./harness/nats.ts";
import { type HeardNotice, listenToNotices } from "./harness/notices.ts";

const KEY = "notices-read";
const T = Date.now() - 3_600_000;
const MEMBER = 4242;
const P = partitionOf(MEMBER, 64);

describe("view notices: a cached member view lasts until it changes", () => {
  const nats = useNatsServer();
  let c: Client;
  let engine: Engine;
  let gw: Gateway;
  let notices: HeardNotice[] = [];

  beforeAll(async () => {
    c = await client(nats.url);
    notices = listenToNotices(c.nc).heard;
    engine = await startEngine(nats.url);
    const options = testGatewayOptions(nats.url, "notices-secret-0123456789", new Map([[KEY, new Set<Scope>(["read"])]]), {
      memberCacheTtlMs: 60_000,
      memberCacheMaxAgeMs: 60_000,
    });
    gw = await Gateway.start(options, silentLogger);
  });

  afterAll(async () => {
    await gw?.stop();
    await engine?.stop();
    await c?.close();
  });

  const score = async (member = MEMBER): Promise<number> => {
    const r = await fetch(`${gw.url}/v1/members/${member}`, { headers: { authorization: `Bearer ${KEY}` } });
    expect(r.status).toBe(200);
    return ((await r.json()) as { score: number }).score;
  };
  const counted = async (m: GatewayMetrics, result: string) => (await m.memberCache.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  const drops = async (reason: string) => (await gw.metrics.memberCacheDrops.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  const order = (id: string, amount: number): Order => ({ id, member: MEMBER, line: "taobao", kind: "paid", amount, ts: T });

  test("a read after an order shows it, though the view before it was cached", async () => {
    expect(await score()).toBe(0); // cached: an unknown member reads as score 0
    const hits = await counted(gw.metrics, "hit");
    expect(await score()).toBe(0);
    expect(await counted(gw.metrics, "hit")).toBe(hits + 1);

    await publishOrders(c.js, [order("n1", 100_00)]);
    await eventually(async () => (await score()) === 100, "the first order read back", 3000);
    // Cached again, and served from the cache until the next order.
    const hits2 = await counted(gw.metrics, "hit");
    expect(await score()).toBe(100);
    expect(await counted(gw.metrics, "hit")).toBe(hits2 + 1);

    await publishOrders(c.js, [order("n2", 50_00)]);
    await eventually(async () => (await score()) === 150, "the second order read back", 3000);
  });

  test("notices form one unbroken chain per partition and list the member whose view changed", () => {
    const ofP = notices.filter((n) => n.partition === P);
    expect(ofP.length).toBeGreaterThan(1);
    for (let i = 1; i < ofP.length; i++) {
      expect(ofP[i].run).toBe(ofP[0].run);
      expect(ofP[i].from).toBe(ofP[i - 1].to);
    }
    // The first order moved the partition's clock from 1970 into its month: every view of the
    // partition changed ("all", a month start). The second lists the member.
    const moved = ofP.filter((n) => n.to > n.from);
    expect(moved.length).toBe(2);
    expect(moved[0].all).toBe(true);
    expect(moved[0].members).toEqual([]);
    expect(moved[1].all).toBe(false);
    expect(moved[1].members).toEqual([MEMBER]);
    // No other partition's notice lists the member.
    expect(notices.some((n) => n.partition !== P && n.members.includes(MEMBER))).toBe(false);
  });

  test("quiet partitions keep their chain alive with heartbeats: the view is still a hit after the silence limit", async () => {
    expect(await score()).toBe(150);
    const before = notices.filter((n) => n.partition === P).length;
    await Bun.sleep(NOTICE_SILENCE_MS + 500);
    expect(notices.filter((n) => n.partition === P).length).toBeGreaterThanOrEqual(before + 3);
    const hits = await counted(gw.metrics, "hit");
    expect(await score()).toBe(150);
    expect(await counted(gw.metrics, "hit")).toBe(hits + 1);
    expect(await drops("silence")).toBe(0);
  }, 10_000);

  test("a new engine run drops what the last one vouched for", async () => {
    expect(await score()).toBe(150);
    const runDrops = await drops("run");
    await engine.stop();
    engine = await startEngine(nats.url);
    await eventually(async () => (await drops("run")) >= runDrops + 1, "the new run heard", 3000);
    const misses = await counted(gw.metrics, "miss");
    expect(await score()).toBe(150); // the same log, the same state
    expect(await counted(gw.metrics, "miss")).toBe(misses + 1);
  }, 30_000);

  test("a NATS restart drops every cached view: notices sent meanwhile are lost to the gateway", async () => {
    expect(await score()).toBe(150);
    const hits = await counted(gw.metrics, "hit");
    expect(await score()).toBe(150);
    expect(await counted(gw.metrics, "hit")).toBe(hits + 1);
    await nats.server.restart();
    await eventually(async () => (await drops("reconnect")) >= 1, "the gateway reset its cache", 10_000);
    await eventually(() => engine.ready, "the engine back", 15_000);
    // The view cached before the restart is not served: the first read after it asks the engine.
    const [hitsNow, missesNow] = [await counted(gw.metrics, "hit"), await counted(gw.metrics, "miss")];
    expect(await score()).toBe(150);
    expect(await counted(gw.metrics, "hit")).toBe(hitsNow);
    expect(await counted(gw.metrics, "miss")).toBe(missesNow + 1);
  }, 60_000);
});
