// The WebSocket feed against a real nats-server, a real engine and a real Bun.serve with the
// hub: real WebSocket clients (Bun's, the FeedClient, and a raw TCP socket that never reads).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { decode } from "@msgpack/msgpack";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Server } from "bun";
import { sign } from "hono/jwt";
import type { Engine } from "../engine/engine.ts";
import { silentLogger } from "../engine/log.ts";
import { FeedClient } from "../gateway/client/index.ts";
import type { Frame, TierFrame } from "../gateway/client/frames.ts";
import type { GatewayOptions } from "../gateway/config.ts";
import { GatewayBenefits } from "../gateway/benefits.ts";
import { EngineClient } from "../gateway/engine-client.ts";
import { FeedHub, type FeedSocketData } from "../gateway/feed/hub.ts";
import { PARTITION_WIDE_AT } from "../gateway/feed/registry.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { type Order, partitionOf, scoreSubject } from "../proto/index.ts";
import { type Client, client, eventually, publishOrders, readTierChanges, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";
import { testGatewayOptions } from "./harness/gateway.ts";

const SECRET = "feed-test-secret-0123456789";
const API_KEY = "feed-test-read-key";
const T = Date.now() - 60_000; // event times in the recent past: never "in the future"
const P = 64;
const TEST_MS = 20_000;
/** Score frames leave ≥ 100 ms apart; arrival times in a busy shared process jitter a little. */
const GAP_MS_MIN = 70;

// ------------------------------------------------------------------ gateway under test

interface FeedGateway {
  hub: FeedHub;
  server: Server<FeedSocketData>;
  nc: NatsConnection;
  metrics: GatewayMetrics;
  /** ws://…/v1/feed */
  url: string;
  http: string;
  tierChangesSeen: number[];
  stop(): Promise<void>;
}

function gatewayOptions(natsUrl: string, o: Partial<GatewayOptions> = {}): GatewayOptions {
  return testGatewayOptions(natsUrl, SECRET, new Map([[API_KEY, new Set(["read" as const])]]), {
    requestTimeoutMs: 2000,
    ownerlessRetryMs: 500,
    name: "feed-test",
    ...o,
  });
}

/** What gateway/gateway.ts wires, minus the HTTP API. */
async function startFeedGateway(natsUrl: string, o: Partial<GatewayOptions> = {}): Promise<FeedGateway> {
  const options = gatewayOptions(natsUrl, o);
  const nc = await connect({ servers: natsUrl, name: options.name, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  const metrics = new GatewayMetrics();
  const tierChangesSeen: number[] = [];
  const benefits = await GatewayBenefits.start(nc, jetstream(nc), await jetstreamManager(nc));
  const hub = new FeedHub({
    options,
    nc,
    js: jetstream(nc),
    jsm: await jetstreamManager(nc),
    engines: new EngineClient(nc, options.partitions, options.requestTimeoutMs, options.ownerlessRetryMs),
    benefits,
    metrics,
    log: silentLogger,
    onTierChange: (m) => tierChangesSeen.push(m),
  });
  await hub.start();
  const server = Bun.serve<FeedSocketData>({
    port: options.port,
    hostname: options.hostname,
    fetch(req, srv) {
      if (new URL(req.url).pathname === "/v1/feed") return hub.upgrade(req, srv);
      return new Response("not found", { status: 404 });
    },
    websocket: hub.websocket,
  });
  const http = `http://127.0.0.1:${server.port}`;
  return {
    hub,
    server,
    nc,
    metrics,
    http,
    url: `ws://127.0.0.1:${server.port}/v1/feed`,
    tierChangesSeen,
    async stop() {
      server.stop(false);
      await hub.stop();
      server.stop(true);
      benefits.stop();
      await nc.drain().catch(() => {});
    },
  };
}

const token = (member: number, expInSec = 3600) =>
  sign({ sub: String(member), exp: Math.floor(Date.now() / 1000) + expInSec }, SECRET, "HS256");

// ------------------------------------------------------------------ test clients

interface Received {
  frame: Frame;
  at: number;
}

interface FeedSocket {
  ws: WebSocket;
  received: Received[];
  frames(type?: Frame["type"]): Frame[];
  tiers(): TierFrame[];
  closed: Promise<{ code: number; reason: string }>;
  waitFor(check: (frames: Frame[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

/** A Bun WebSocket on the feed; resolves once it is open. */
async function openFeed(url: string, member: number, o: { since?: number; protocol?: string } = {}): Promise<FeedSocket> {
  const u = new URL(url);
  u.searchParams.set("token", await token(member));
  if (o.since !== undefined) u.searchParams.set("since", String(o.since));
  const ws = o.protocol ? new WebSocket(u.toString(), o.protocol) : new WebSocket(u.toString());
  ws.binaryType = "arraybuffer";
  const received: Received[] = [];
  ws.onmessage = (ev) => {
    const frame = (typeof ev.data === "string" ? JSON.parse(ev.data) : decode(new Uint8Array(ev.data as ArrayBuffer))) as Frame;
    received.push({ frame, at: performance.now() });
  };
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.addEventListener("close", (ev) => resolve({ code: ev.code, reason: ev.reason }));
  });
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("WebSocket failed to open")), { once: true });
  });
  const frames = (type?: Frame["type"]) => received.map((r) => r.frame).filter((f) => !type || f.type === type);
  return {
    ws,
    received,
    frames,
    tiers: () => frames("tier") as TierFrame[],
    closed,
    waitFor: (check, what, timeoutMs = 10_000) => eventually(() => check(frames()), what, timeoutMs),
  };
}

const paid = (id: string, member: number, points: number, ts = T): Order => ({
  id,
  member,
  line: "taobao",
  kind: "paid",
  amount: points * 100, // taobao: 1 point per yuan
  ts,
});
const refund = (id: string, member: number, points: number, ts = T): Order => ({ ...paid(id, member, points, ts), kind: "refund" });

/** Four orders, four tier changes (immediate policy): bronze → silver → diamond → silver → bronze. */
const cycle = (member: number, tag: string, ts = T): Order[] => [
  paid(`${tag}-a`, member, 300, ts),
  paid(`${tag}-b`, member, 5000, ts),
  refund(`${tag}-b`, member, 5000, ts),
  refund(`${tag}-a`, member, 300, ts),
];

const storedSeqs = async (nc: NatsConnection, member: number, after = 0): Promise<number[]> =>
  (await readTierChanges(nc, `tier.${partitionOf(member, P)}.${member}`)).map((c) => c.seq).filter((s) => s > after);

const expectStrictlyIncreasing = (seqs: number[]) => {
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
};

// ------------------------------------------------------------------ tests

describe("WebSocket feed", () => {
  const nats = useNatsServer();
  let c: Client;
  let engine: Engine;
  let gw: FeedGateway;

  beforeAll(async () => {
    c = await client(nats.url);
    engine = await startEngine(nats.url, { policy: "immediate" });
    gw = await startFeedGateway(nats.url);
  });
  afterAll(async () => {
    await gw?.stop();
    await engine?.stop();
    await c?.close();
  });

  test("hello on connect, as JSON text and as msgpack with the subprotocol selected", async () => {
    const member = 101;
    await publishOrders(c.js, [paid("h-1", member, 600)]); // bronze → gold
    await eventually(async () => (await storedSeqs(c.nc, member)).length === 1, "bronze → gold stored");

    const json = await openFeed(gw.url, member);
    await json.waitFor((f) => f.length >= 1, "hello");
    const hello = json.frames()[0];
    expect(hello).toEqual({ type: "hello", member, tier: "gold", score: 600, seq: expect.any(Number) });
    expect((hello as { seq: number }).seq).toBeGreaterThanOrEqual((await storedSeqs(c.nc, member)).at(-1)!);
    expect(json.ws.protocol).toBe("");

    const packed = await openFeed(gw.url, member, { protocol: "msgpack" });
    expect(packed.ws.protocol).toBe("msgpack");
    await packed.waitFor((f) => f.length >= 1, "msgpack hello");
    expect(packed.frames()[0]).toEqual({ type: "hello", member, tier: "gold", score: 600, seq: expect.any(Number) });
    expect(gw.hub.stats()).toEqual({ connections: 2, members: 1 });
    expect(await gw.metrics.registry.getSingleMetricAsString("tierstream_ws_frames_total")).toContain('type="hello"} 2');
    expect(await gw.metrics.registry.getSingleMetricAsString("tierstream_ws_connections")).toContain("tierstream_ws_connections 2");
    json.ws.close();
    packed.ws.close();
    await eventually(() => gw.hub.stats().connections === 0, "both closed");
    expect(gw.hub.stats().members).toBe(0);
  }, TEST_MS);

  test("a resume position beyond anything stored is not one: hello.seq is the view's seq", async () => {
    const member = 102;
    const ws = await openFeed(gw.url, member, { since: 1e12 });
    await ws.waitFor((f) => f.length >= 1, "hello");
    const hello = ws.frames()[0] as { seq: number };
    expect(hello.seq).toBeLessThan(1e12);
    expect(hello.seq).toBeGreaterThanOrEqual(0);
    ws.ws.close();
  }, TEST_MS);

  test("a tier change reaches every connection of its member, and no other member's", async () => {
    const [m1, m2] = [201, 202];
    const a = await openFeed(gw.url, m1);
    const b = await openFeed(gw.url, m1, { protocol: "msgpack" });
    const other = await openFeed(gw.url, m2);
    for (const s of [a, b, other]) await s.waitFor((f) => f.length >= 1, "hello");
    expect(gw.hub.stats()).toEqual({ connections: 3, members: 2 });

    await publishOrders(c.js, [paid("t-1", m1, 1200)]); // bronze → platinum
    for (const s of [a, b]) await s.waitFor((f) => f.some((x) => x.type === "tier"), "m1's tier frame");
    const [stored] = await readTierChanges(c.nc, `tier.${partitionOf(m1, P)}.${m1}`);
    const expected: TierFrame = { type: "tier", member: m1, from: "bronze", to: "platinum", score: 1200, ts: T, cause: "t-1", seq: stored.seq };
    expect(a.tiers()).toEqual([expected]);
    expect(b.tiers()).toEqual([expected]);
    expect(gw.tierChangesSeen).toContain(m1);

    // m2's own change comes after m1's: had m1's frame leaked to m2, it would be there by now.
    await publishOrders(c.js, [paid("t-2", m2, 250)]);
    await other.waitFor((f) => f.some((x) => x.type === "tier"), "m2's tier frame");
    await Bun.sleep(150); // and any score tick of m1
    expect(other.frames().map((f) => ("member" in f ? f.member : -1))).toEqual(other.frames().map(() => m2));
    expect(other.tiers()).toHaveLength(1);
    for (const s of [a, b, other]) s.ws.close();
    await eventually(() => gw.hub.stats().connections === 0, "all closed");
  }, TEST_MS);

  test("score frames arrive for a watched member, at most one per 100 ms", async () => {
    const member = 301;
    const p = partitionOf(member, P);
    const ws = await openFeed(gw.url, member);
    await ws.waitFor((f) => f.length >= 1, "hello");
    await eventually(() => engine.runners.get(p)!.scoreFeed.leases.has(member), "the engine holds the lease");

    // 30 orders over ~600 ms, 5 points each: the score climbs to 150 (still bronze).
    for (let i = 0; i < 30; i++) {
      await publishOrders(c.js, [paid(`s-${i}`, member, 5, T + i)]);
      await Bun.sleep(20);
    }
    await ws.waitFor((f) => f.some((x) => x.type === "score" && x.score === 150), "the score tick for 150");
    const ticks = ws.received.filter((r) => r.frame.type === "score");
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.length).toBeLessThan(15);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i].at - ticks[i - 1].at).toBeGreaterThan(GAP_MS_MIN);
    const deltas = ticks.reduce((sum, r) => sum + (r.frame as { delta: number }).delta, 0);
    expect(deltas).toBeLessThanOrEqual(150);

    // Ticks faster than the engine's own pace (two engines during a handover, say) are
    // coalesced by the gateway: 50 within ~50 ms → at most 2 frames, deltas summed.
    await Bun.sleep(150);
    const before = ws.received.length;
    for (let i = 1; i <= 50; i++) {
      gw.nc.publish(scoreSubject(p, member), JSON.stringify({ type: "score", member, score: 1000 + i, delta: 1, line: "tmall", ts: T + i }));
      if (i % 10 === 0) await Bun.sleep(10);
    }
    await ws.waitFor((f) => f.some((x) => x.type === "score" && x.score === 1050), "the coalesced tick");
    await Bun.sleep(250);
    const burst = ws.received.slice(before).filter((r) => r.frame.type === "score");
    expect(burst.length).toBeLessThanOrEqual(2);
    expect(burst.reduce((sum, r) => sum + (r.frame as { delta: number }).delta, 0)).toBe(50);
    expect(burst.at(-1)!.frame).toEqual({ type: "score", member, score: 1050, delta: expect.any(Number), line: "tmall", ts: T + 50 });
    for (let i = 1; i < burst.length; i++) expect(burst[i].at - burst[i - 1].at).toBeGreaterThan(GAP_MS_MIN);
    ws.ws.close();
  }, TEST_MS);

  test("resuming with since after a disconnect during a burst loses nothing and repeats nothing", async () => {
    const member = 401;
    const a = await openFeed(gw.url, member);
    await a.waitFor((f) => f.length >= 1, "hello");
    const start = (a.frames()[0] as { seq: number }).seq;

    // 40 cycles × 4 changes, one order per message, while the client leaves and comes back.
    const cycles = 40;
    const publisher = (async () => {
      for (let i = 0; i < cycles; i++) {
        for (const o of cycle(member, `r-${i}`, T + i)) {
          await publishOrders(c.js, [o]);
          await Bun.sleep(3); // ~1 s in all: it runs on while b opens, replays and goes live
        }
      }
    })();
    await a.waitFor((f) => f.filter((x) => x.type === "tier").length >= 12, "a dozen changes live", 15_000);
    a.ws.close();
    await a.closed;
    const since = a.tiers().at(-1)!.seq;
    await Bun.sleep(150); // changes while away
    const b = await openFeed(gw.url, member, { since });
    await publisher;

    const stored = await storedSeqs(c.nc, member, start);
    expect(stored).toHaveLength(cycles * 4);
    await b.waitFor((f) => (f.filter((x) => x.type === "tier").at(-1) as TierFrame | undefined)?.seq === stored.at(-1), "the last change", 15_000);
    const hello = b.frames()[0];
    expect(hello).toMatchObject({ type: "hello", member, seq: since }); // tier and score: the member now
    const seqsA = a.tiers().map((f) => f.seq);
    const seqsB = b.tiers().map((f) => f.seq);
    expectStrictlyIncreasing(seqsA);
    expectStrictlyIncreasing(seqsB);
    expect(seqsB.length).toBeGreaterThan(0);
    expect(seqsB[0]).toBeGreaterThan(since);
    expect([...seqsA, ...seqsB]).toEqual(stored);
    // The chain is whole: each change starts where the previous one ended.
    const all = [...a.tiers(), ...b.tiers()];
    for (let i = 1; i < all.length; i++) expect(all[i].from).toBe(all[i - 1].to);
    b.ws.close();
  }, 30_000);

  test("a live message that never came (engine crash between store and publish) is filled in from TIER_EVENTS", async () => {
    // Simulated by hand: a change stored but not published live, then a later one published
    // live whose `from` does not continue what the client has. (No engine restarts on this
    // server, so these hand-made messages without a position header harm nothing.)
    const member = 451;
    const p = partitionOf(member, P);
    const ws = await openFeed(gw.url, member);
    await ws.waitFor((f) => f.length >= 1, "hello");
    const body = (from: string, to: string, score: number, cause: string) => ({ member, from, to, score, ts: T, cause });
    const lost = await c.js.publish(`tier.${p}.${member}`, JSON.stringify(body("bronze", "silver", 200, "lost")));
    const next = body("silver", "gold", 500, "next");
    const stored = await c.js.publish(`tier.${p}.${member}`, JSON.stringify(next));
    c.nc.publish(`live.tier.${p}.${member}`, JSON.stringify({ type: "tier", ...next, seq: stored.seq }));
    await ws.waitFor((f) => f.filter((x) => x.type === "tier").length >= 2, "both changes");
    await Bun.sleep(50);
    expect(ws.tiers().map((f) => [f.seq, f.from, f.to])).toEqual([
      [lost.seq, "bronze", "silver"],
      [stored.seq, "silver", "gold"],
    ]);
    ws.ws.close();
  }, TEST_MS);

  test("live tier changes go out only for watched members, and a hello waits until the engine heard of its member", async () => {
    // A long interest batch: a hello that did not wait for it would be answered while the
    // engine still counts the member as unwatched, and the change below would never come live.
    const g = await startFeedGateway(nats.url, { name: "slow-interest", interestBatchMs: 400 });
    const live: string[] = [];
    const sub = c.nc.subscribe("live.tier.>", { callback: (_e, m) => void live.push(m.subject) });
    try {
      const member = 477;
      const unwatched = 478;
      const ws = await openFeed(g.url, member);
      await ws.waitFor((f) => f.length >= 1, "hello");
      await publishOrders(c.js, [paid("watched-1", member, 600), paid("unwatched-1", unwatched, 600)]);
      await ws.waitFor((f) => f.some((x) => x.type === "tier"), "the tier frame", 5_000);
      expect(ws.tiers().map((f) => [f.from, f.to, f.cause])).toEqual([["bronze", "gold", "watched-1"]]);
      // Both changes are stored; only the watched member's went out live.
      await eventually(async () => (await storedSeqs(c.nc, unwatched)).length === 1, "the unwatched change stored");
      await c.nc.flush();
      await Bun.sleep(50);
      expect(live).toEqual([`live.tier.${partitionOf(member, P)}.${member}`]);
      ws.ws.close();
    } finally {
      sub.unsubscribe();
      await g.stop();
    }
  }, TEST_MS);

  test("refusals before the upgrade: no, bad or expired token → 401, API key → 403, bad since → 400", async () => {
    const feed = `${gw.http}/v1/feed`;
    const expectError = async (res: Response, status: number, code: string) => {
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual({ error: { code, message: expect.any(String) } });
    };
    await expectError(await fetch(feed), 401, "unauthorized");
    await expectError(await fetch(`${feed}?token=not-a-jwt`), 401, "unauthorized");
    await expectError(await fetch(`${feed}?token=${await token(5, -60)}`), 401, "unauthorized");
    const forged = await sign({ sub: "5", exp: Math.floor(Date.now() / 1000) + 60 }, "another-secret", "HS256");
    await expectError(await fetch(`${feed}?token=${forged}`), 401, "unauthorized");
    await expectError(await fetch(feed, { headers: { Authorization: `Bearer ${API_KEY}` } }), 403, "forbidden");
    const good = await token(5);
    for (const since of ["-1", "abc", "1.5", "", "99999999999999999999"]) {
      await expectError(await fetch(`${feed}?token=${good}&since=${since}`), 400, "bad_since");
    }
    await expectError(await fetch(`${feed}?token=${good}`), 426, "upgrade_required");

    // A real WebSocket with a bad token never opens; the Authorization header works too.
    const refused = new WebSocket(`${gw.url}?token=nope`);
    await new Promise<void>((resolve) => refused.addEventListener("error", () => resolve(), { once: true }));
    const viaHeader = new WebSocket(gw.url, { headers: { Authorization: `Bearer ${good}` } } as never);
    const hello = await new Promise<Frame>((resolve) => viaHeader.addEventListener("message", (ev) => resolve(JSON.parse(ev.data as string))));
    expect(hello).toMatchObject({ type: "hello", member: 5 });
    viaHeader.close();
  }, TEST_MS);

  test("what a client sends is ignored; a message over 1 KiB closes the connection with 1009", async () => {
    const ws = await openFeed(gw.url, 103);
    await ws.waitFor((f) => f.length >= 1, "hello");
    ws.ws.send("ping");
    ws.ws.send(JSON.stringify({ type: "subscribe", member: 104 }));
    await Bun.sleep(100);
    expect(ws.ws.readyState).toBe(WebSocket.OPEN);
    expect(ws.frames().map((f) => f.type)).toEqual(["hello"]);
    ws.ws.send("x".repeat(4096));
    expect((await ws.closed).code).toBe(1009);
  }, TEST_MS);

  test("interest: batched per partition, renewed every leaseMs/3, re-announced on resync, dropped with the last connection", async () => {
    const name = "interest-test";
    const gi = await startFeedGateway(nats.url, { name, interestLeaseMs: 1200 });
    const seen: { subject: string; leaseMs: number; members: number[]; drop: number[]; at: number }[] = [];
    const sub = c.nc.subscribe("tierstream.interest.>", {
      callback: (_e, m) => {
        if (m.subject === "tierstream.interest.resync") return;
        const b = m.json() as { gateway: string; leaseMs: number; members: number[]; drop?: number[] };
        if (b.gateway !== name) return;
        seen.push({ subject: m.subject, leaseMs: b.leaseMs, members: [...b.members].sort(), drop: b.drop ?? [], at: performance.now() });
      },
    });
    const p = 17;
    const members: number[] = [];
    for (let m = 900_000; members.length < 8; m++) if (partitionOf(m, P) === p) members.push(m);
    const sockets = await Promise.all([...members, members[0]].map((m) => openFeed(gi.url, m)));
    for (const s of sockets) await s.waitFor((f) => f.length >= 1, "hello");
    const leases = engine.runners.get(p)!.scoreFeed.leases;
    await eventually(() => members.every((m) => leases.has(m)), "the engine holds every lease");
    const adds = seen.filter((x) => x.members.length > 0);
    expect(adds.every((x) => x.subject === `tierstream.interest.${p}`)).toBe(true);
    expect(adds.length).toBeLessThanOrEqual(2); // one flush, or two if the opens straddled one
    expect([...new Set(adds.flatMap((x) => x.members))].sort()).toEqual([...members].sort());

    // Renewal: every member, in one message, every 400 ms.
    const held = performance.now();
    const renewalsSince = (t: number) => seen.filter((x) => x.at > t && x.members.length === 8);
    await eventually(() => renewalsSince(held).length >= 2, "two renewals", 3_000);
    const renewals = renewalsSince(held);
    expect(renewals.at(-1)!.at - renewals.at(-2)!.at).toBeGreaterThan(300);
    expect(renewals.at(-1)!.at - renewals.at(-2)!.at).toBeLessThan(700);

    // An engine that starts asks for everything at once; the next renewal is ~300 ms away.
    await Bun.sleep(100);
    const asked = performance.now();
    c.nc.publish("tierstream.interest.resync", "");
    await eventually(() => seen.some((x) => x.at > asked && x.members.length === 8), "re-announced", 2_000);
    expect(seen.find((x) => x.at > asked && x.members.length === 8)!.at - asked).toBeLessThan(150);

    // One of two connections closing keeps the lease; the last one drops it.
    sockets[8].ws.close();
    await Bun.sleep(100);
    expect(seen.some((x) => x.drop.includes(members[0]))).toBe(false);
    sockets[0].ws.close();
    await eventually(() => seen.some((x) => x.drop.includes(members[0])), "the drop");
    await eventually(() => !leases.has(members[0]), "the engine dropped the lease");
    expect(leases.has(members[1])).toBe(true);

    await gi.stop(); // drops every lease it holds
    await eventually(() => members.every((m) => !leases.has(m)), "every lease dropped");
    expect(seen.every((x) => x.leaseMs === 1200)).toBe(true);
    sub.unsubscribe();
  }, TEST_MS);

  test("a partition with many watched members is subscribed partition-wide; frames still reach only their member", async () => {
    const name = "wide-test";
    const gwide = await startFeedGateway(nats.url, { name });
    const subsOf = async () => {
      const connz = (await (await fetch(`http://127.0.0.1:${nats.server.monitorPort}/connz?subs=1`)).json()) as {
        connections: { name?: string; subscriptions_list?: string[] }[];
      };
      return (connz.connections.find((x) => x.name === name)?.subscriptions_list ?? []).filter((x) => /^(live|score)\./.test(x)).sort();
    };
    const q = 23;
    const members: number[] = [];
    for (let m = 950_000; members.length < PARTITION_WIDE_AT + 4; m++) if (partitionOf(m, P) === q) members.push(m);
    let loner = 960_000;
    while (partitionOf(loner, P) === q) loner++;
    const lp = partitionOf(loner, P);

    const few = await Promise.all(members.slice(0, 3).map((m) => openFeed(gwide.url, m)));
    for (const s of few) await s.waitFor((f) => f.length >= 1, "hello");
    expect(await subsOf()).toEqual(members.slice(0, 3).flatMap((m) => [`live.tier.${q}.${m}`, `score.${q}.${m}`]).sort());

    const rest = await Promise.all([...members.slice(3).map((m) => openFeed(gwide.url, m)), openFeed(gwide.url, loner)]);
    for (const s of rest) await s.waitFor((f) => f.length >= 1, "hello");
    await eventually(async () => (await subsOf()).length === 4, "partition-wide subscriptions only");
    expect(await subsOf()).toEqual([`live.tier.${lp}.${loner}`, `live.tier.${q}.*`, `score.${lp}.${loner}`, `score.${q}.*`].sort());

    const sockets = [...few, ...rest];
    const [x, y] = [members[1], members[PARTITION_WIDE_AT + 2]];
    await publishOrders(c.js, [paid("w-x", x, 300), paid("w-y", y, 700), paid("w-l", loner, 1500)]);
    const byMember = (m: number) => sockets[m === loner ? sockets.length - 1 : members.indexOf(m)];
    await byMember(x).waitFor((f) => f.some((t) => t.type === "tier"), "x's change");
    await byMember(y).waitFor((f) => f.some((t) => t.type === "tier"), "y's change");
    await byMember(loner).waitFor((f) => f.some((t) => t.type === "tier"), "the loner's change");
    await Bun.sleep(150);
    for (const [i, s] of sockets.entries()) {
      const m = i === sockets.length - 1 ? loner : members[i];
      expect(s.frames().every((f) => "member" in f && f.member === m)).toBe(true);
      expect(s.tiers().length).toBe([x, y, loner].includes(m) ? 1 : 0);
    }
    expect(byMember(y).tiers()[0]).toMatchObject({ from: "bronze", to: "gold", cause: "w-y" });

    for (const s of sockets) s.ws.close();
    await eventually(async () => (await subsOf()).length === 0, "every feed subscription gone");
    await gwide.stop();
  }, TEST_MS);

  test("the FeedClient rides through a gateway restart during a burst: every change exactly once", async () => {
    const member = 501;
    let g = await startFeedGateway(nats.url, { name: "restart-1" });
    const port = g.server.port!;
    const got: Frame[] = [];
    const statuses: string[] = [];
    const fc = new FeedClient({
      url: g.url,
      token: await token(member),
      onFrame: (f) => got.push(f),
      onStatus: (s) => statuses.push(s),
      backoffMsMin: 50,
      backoffMsMax: 400,
    });
    await eventually(() => got.length >= 1, "hello");
    const start = (got[0] as { seq: number }).seq;

    const cycles = 30;
    const publisher = (async () => {
      for (let i = 0; i < cycles; i++) {
        for (const o of cycle(member, `g-${i}`, T + i)) {
          await publishOrders(c.js, [o]);
          await Bun.sleep(4); // ~0.8 s in all: before, during and after the restart
        }
      }
    })();
    await eventually(() => got.filter((f) => f.type === "tier").length >= 10, "changes before the restart", 15_000);
    await g.stop(); // closes the feed with 1001; the client backs off and retries
    const beforeRestart = fc.lastSeq!;
    await Bun.sleep(200); // changes while no gateway runs
    g = await startFeedGateway(nats.url, { name: "restart-2", port });
    await publisher;

    const stored = await storedSeqs(c.nc, member, start);
    expect(stored).toHaveLength(cycles * 4);
    await eventually(() => fc.lastSeq === stored.at(-1), "the client caught up", 15_000);
    const tiers = got.filter((f): f is TierFrame => f.type === "tier").map((f) => f.seq);
    expect(tiers).toEqual(stored);
    const hellos = got.filter((f) => f.type === "hello") as { seq: number }[];
    expect(hellos.length).toBeGreaterThanOrEqual(2);
    expect(hellos[1].seq).toBe(beforeRestart); // it resumed with since = lastSeq
    expect(statuses).toContain("backoff");
    expect(statuses.filter((s) => s === "open").length).toBeGreaterThanOrEqual(2);
    fc.close();
    expect(statuses.at(-1)).toBe("closed");
    await g.stop();
  }, 30_000);
});

// ------------------------------------------------------------------ a client that stops reading

/** A raw TCP client: sends the upgrade request, then does not read a byte until told to. */
async function stalledClient(port: number, member: number) {
  const chunks: Uint8Array[] = [];
  let ended!: () => void;
  const done = new Promise<void>((resolve) => (ended = resolve));
  const key = Buffer.from("feed-test-stall!").toString("base64") // 16 bytes;
  const path = `/v1/feed?token=${await token(member)}`;
  const socket = await Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: {
      open(s) {
        s.pause(); // never reads: what it is sent piles up in the kernel, then in the gateway
        s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      },
      data(_s, d) {
        chunks.push(new Uint8Array(d));
      },
      close() {
        ended();
      },
      error() {
        ended();
      },
    },
  });
  return {
    /** Starts reading; resolves with every text frame and the close code once the socket ends. */
    async drain(): Promise<{ texts: string[]; closeCode: number | null }> {
      socket.resume();
      await done;
      return parseServerFrames(Buffer.concat(chunks));
    },
  };
}

/** Unmasked server frames after the 101 response. */
function parseServerFrames(buf: Buffer): { texts: string[]; closeCode: number | null } {
  let i = buf.indexOf("\r\n\r\n") + 4;
  expect(buf.subarray(0, 12).toString()).toBe("HTTP/1.1 101");
  const texts: string[] = [];
  let closeCode: number | null = null;
  while (i + 2 <= buf.length) {
    const opcode = buf[i] & 0x0f;
    let len = buf[i + 1] & 0x7f;
    let at = i + 2;
    if (len === 126) {
      len = buf.readUInt16BE(at);
      at += 2;
    } else if (len === 127) {
      len = Number(buf.readBigUInt64BE(at));
      at += 8;
    }
    if (at + len > buf.length) break; // cut mid-frame
    const payload = buf.subarray(at, at + len);
    if (opcode === 0x1) texts.push(payload.toString());
    if (opcode === 0x8) closeCode = payload.readUInt16BE(0);
    i = at + len;
  }
  return { texts, closeCode };
}

describe("WebSocket feed under stress: a client that stops reading, no engine", () => {
  const nats = useNatsServer();
  let c: Client;
  let engine: Engine;
  let gw: FeedGateway;

  beforeAll(async () => {
    c = await client(nats.url);
    engine = await startEngine(nats.url, { policy: "immediate" });
    gw = await startFeedGateway(nats.url, { wsBackpressureBytesMax: 64 << 10, name: "slow" });
  });
  afterAll(async () => {
    await gw?.stop();
    await engine?.stop();
    await c?.close();
  });

  test("is cut off with 1013 while another member's connection keeps receiving promptly", async () => {
    const [slow, healthy] = [701, 702];
    const ok = await openFeed(gw.url, healthy);
    await ok.waitFor((f) => f.length >= 1, "hello");
    const stalled = await stalledClient(gw.server.port!, slow);
    await eventually(() => gw.hub.stats().connections === 2, "the stalled client is upgraded");

    // Bursts of 5000 changes for the stalled member (long order ids: ~190-byte frames) until
    // the kernel's buffers and then the gateway's 64 KiB are full.
    const cut = () => gw.hub.stats().connections === 1;
    const pad = "x".repeat(48);
    let bursts = 0;
    const latencies: number[] = [];
    // Bounded by count and time; a loaded CI machine drains the gateway more slowly.
    const burstsUntilMs = performance.now() + 45_000;
    while (!cut() && bursts < 24 && performance.now() < burstsUntilMs) {
      const orders: Order[] = [];
      for (let i = 0; i < 2500; i++) orders.push(paid(`${pad}-${bursts}-${i}`, slow, 5000), refund(`${pad}-${bursts}-${i}`, slow, 5000));
      await publishOrders(c.js, orders);
      // Meanwhile the healthy member's change arrives promptly.
      const sentAt = performance.now();
      const n = ok.tiers().length;
      await publishOrders(c.js, [bursts % 2 === 0 ? paid(`ok-${bursts}`, healthy, 5000) : refund(`ok-${bursts - 1}`, healthy, 5000)]);
      await ok.waitFor((f) => f.filter((x) => x.type === "tier").length === n + 1, "the healthy member's change", 5_000);
      latencies.push(performance.now() - sentAt);
      bursts++;
    }
    await eventually(cut, "the stalled client is cut", 30_000);
    expect(bursts).toBeGreaterThan(1); // it took more than the kernel's buffers
    expect(Math.max(...latencies)).toBeLessThan(1500);
    expect(await gw.metrics.registry.getSingleMetricAsString("tierstream_ws_closed_total")).toContain('reason="backpressure"} 1');
    expect(gw.hub.stats()).toEqual({ connections: 1, members: 1 });

    // Reading again, it finds what was sent before the cut, then the close frame: 1013.
    const { texts, closeCode } = await stalled.drain();
    expect(closeCode).toBe(1013);
    const frames = texts.map((t) => JSON.parse(t) as Frame);
    expect(frames[0]).toMatchObject({ type: "hello", member: slow });
    const seen = frames.filter((f): f is TierFrame => f.type === "tier");
    expect(seen.length).toBeGreaterThan(1000);

    // It resumes with since and gets the rest: together, every stored change once.
    const stored = await storedSeqs(c.nc, slow);
    expect(stored).toHaveLength(bursts * 5000);
    const resumed = await openFeed(gw.url, slow, { since: seen.at(-1)!.seq });
    await resumed.waitFor((f) => (f.at(-1) as TierFrame | undefined)?.seq === stored.at(-1), "the rest", 20_000);
    expect([...seen, ...resumed.tiers()].map((f) => f.seq)).toEqual(stored);
    resumed.ws.close();
    ok.ws.close();
  }, 150_000);

  test("no engine answers → 1011; the FeedClient keeps retrying and says hello once one is back", async () => {
    await engine.stop();
    const raw = await openFeed(gw.url, 801);
    const closed = await raw.closed;
    expect(closed).toEqual({ code: 1011, reason: "engine_unavailable" });
    expect(raw.frames()).toEqual([]);

    const got: Frame[] = [];
    const statuses: string[] = [];
    const memberToken = await token(802);
    const fc = new FeedClient({
      url: gw.url,
      token: () => memberToken,
      onFrame: (f) => got.push(f),
      onStatus: (s) => statuses.push(s),
      backoffMsMin: 50,
      backoffMsMax: 200,
    });
    await eventually(() => statuses.filter((s) => s === "backoff").length >= 2, "two refusals", 10_000);
    engine = await startEngine(nats.url, { policy: "immediate" });
    await eventually(() => got.some((f) => f.type === "hello"), "hello once the engine is back", 15_000);
    expect(got[0]).toMatchObject({ type: "hello", member: 802, tier: "bronze", score: 0 });
    fc.close();
  }, 90_000);
});
