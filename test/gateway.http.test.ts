// The gateway's HTTP API over real HTTP, against a real nats-server and a real engine:
// credentials and scopes, member reads and the cache, order ingestion (JSON, msgpack, all or
// nothing, Idempotency-Key), stats, health and metrics.

import { pathOf } from "../gateway/http/path.ts";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type JetStreamClient, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Server } from "bun";
import { sign } from "hono/jwt";
import type { Engine } from "../engine/engine.ts";
import type { GatewayOptions, Scope } from "../gateway/config.ts";
import { GatewayBenefits } from "../gateway/benefits.ts";
import { EngineClient } from "../gateway/engine-client.ts";
import { buildHttpApp, type HttpDeps } from "../gateway/http/app.ts";
import { MemberCache } from "../gateway/member-cache.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { encodeOrders, ensureStreams, type Order, partitionOf, STREAM_ORDERS } from "../proto/index.ts";
import { eventually, memberViaService, publishOrders, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

const SECRET = "test-secret-0123456789";
const KEYS = {
  read: "read-key-0001",
  ingest: "ingest-key-001",
  admin: "admin-key-0001",
  claim: "claim-key-0001",
} as const;
const T = Date.now() - 60_000; // event times in the recent past: never "in the future"

const paid = (id: string, member: number, amount: number, ts = T, line = "taobao"): Order => ({ id, member, line, kind: "paid", amount, ts });

const token = (sub: number | string, expSec = Math.floor(Date.now() / 1000) + 3600, secret = SECRET) =>
  sign({ sub: String(sub), exp: expSec }, secret, "HS256");

interface TestApp {
  url: string;
  deps: HttpDeps;
  server: Server<undefined>;
}

describe("gateway HTTP API", () => {
  const nats = useNatsServer();
  let nc: NatsConnection;
  let js: JetStreamClient;
  let engine: Engine | undefined;
  let main: TestApp;
  let benefits: GatewayBenefits;
  const apps: TestApp[] = [];

  const options = (over: Partial<GatewayOptions> = {}): GatewayOptions => ({
    natsUrl: nats.url,
    port: 0,
    jwtSecret: SECRET,
    apiKeys: new Map<string, Set<Scope>>([
      [KEYS.read, new Set(["read"])],
      [KEYS.ingest, new Set(["ingest"])],
      [KEYS.admin, new Set(["admin"])],
      [KEYS.claim, new Set(["claim"])],
    ]),
    partitions: 64,
    lines: ["taobao", "tmall", "eleme", "fliggy", "hema"],
    requestTimeoutMs: 2000,
    ownerlessRetryMs: 1000,
    wsBackpressureBytesMax: 1 << 20,
    wsIdleTimeoutSec: 60,
    interestLeaseMs: 30_000,
    memberCacheTtlMs: 50,
    memberCacheMaxAgeMs: 60_000,
    memberCacheEntriesMax: 1000,
    name: "test-gateway",
    ...over,
  });

  /** An app on its own port; `over` replaces deps (a flaky JetStream client, a long cache TTL). */
  const serve = (opts: GatewayOptions, over: Partial<HttpDeps> = {}): TestApp => {
    const metrics = new GatewayMetrics();
    const deps: HttpDeps = {
      options: opts,
      nc,
      js,
      engines: new EngineClient(nc, opts.partitions, opts.requestTimeoutMs, opts.ownerlessRetryMs),
      cache: new MemberCache(opts.partitions, opts.memberCacheEntriesMax, opts.memberCacheTtlMs, opts.memberCacheMaxAgeMs, metrics),
      benefits,
      metrics,
      feedStats: () => ({ connections: 3, members: 2 }),
      ready: () => !nc.isClosed(),
      log: { error: () => {} },
      ...over,
    };
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: buildHttpApp(deps).fetch });
    const app = { url: `http://127.0.0.1:${server.port}`, deps, server };
    apps.push(app);
    return app;
  };

  const get = (path: string, credential?: string, app = main) =>
    fetch(app.url + path, { headers: credential ? { authorization: `Bearer ${credential}` } : {} });

  const post = (path: string, body: unknown, credential: string | undefined, headers: Record<string, string> = {}, app = main) =>
    fetch(app.url + path, {
      method: "POST",
      headers: {
        "content-type": body instanceof Uint8Array ? "application/msgpack" : "application/json",
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        ...headers,
      },
      body: body instanceof Uint8Array ? body : JSON.stringify(body),
    });

  const ordersInStream = async () => (await (await jetstreamManager(nc)).streams.info(STREAM_ORDERS)).state.messages;

  const scoreOf = async (member: number): Promise<number> => {
    const res = await get(`/v1/members/${member}`, KEYS.read);
    expect(res.status).toBe(200);
    return ((await res.json()) as { score: number }).score;
  };

  const cacheCount = async (m: GatewayMetrics, result: "hit" | "miss") =>
    (await m.memberCache.get()).values.find((v) => v.labels.result === result)?.value ?? 0;

  beforeAll(async () => {
    nc = await connect({ servers: nats.url });
    await ensureStreams(await jetstreamManager(nc));
    js = jetstream(nc);
    engine = await startEngine(nats.url);
    benefits = await GatewayBenefits.start(nc, js, await jetstreamManager(nc));
    main = serve(options());
  });

  afterAll(async () => {
    for (const a of apps) a.server.stop(true);
    benefits?.stop();
    await engine?.stop();
    await nc?.close();
  });

  test("healthz answers anyone; an unknown route is 404 and a wrong method 405, both in the error shape", async () => {
    const health = await get("/healthz");
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });

    const missing = await get("/v1/nope", KEYS.admin);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: "not_found", message: expect.any(String) } });

    const wrongMethod = await fetch(`${main.url}/v1/members/1`, { method: "DELETE", headers: { authorization: `Bearer ${KEYS.admin}` } });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET, HEAD");
    expect(((await wrongMethod.json()) as { error: { code: string } }).error.code).toBe("method_not_allowed");
  });

  test("a member reads its own view with its token; a read key and an admin key read any member", async () => {
    const member = 4242;
    await publishOrders(js, [paid("m-1", member, 25_000)]); // 250 points: silver
    await eventually(async () => (await memberViaService(nc, member)).score === 250, "the engine applies the order");

    const own = await get(`/v1/members/${member}`, await token(member));
    expect(own.status).toBe(200);
    expect(own.headers.get("content-type")).toContain("application/json");
    const view = await own.json();
    expect(view).toEqual(await memberViaService(nc, member)); // the engine's view as is
    expect(view).toMatchObject({ member, score: 250, tier: "silver", lines: { taobao: 250 } });

    for (const key of [KEYS.read, KEYS.admin]) {
      const res = await get(`/v1/members/${member}`, key);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ member, score: 250, tier: "silver" });
    }
  });

  test("an unknown member reads as bronze with score 0", async () => {
    const res = await get("/v1/members/9007199254740991", KEYS.read); // 2^53 − 1: the largest id
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ member: 9007199254740991, score: 0, tier: "bronze", lines: {} });
  });

  test("another member's id with a member token is 403, refused before any lookup", async () => {
    const before = (await cacheCount(main.deps.metrics, "hit")) + (await cacheCount(main.deps.metrics, "miss"));
    for (const member of [4242, 777_777]) {
      const res = await get(`/v1/members/${member}`, await token(4243));
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    }
    // The same answer for a member that exists and one that does not, and no cache lookup.
    const after = (await cacheCount(main.deps.metrics, "hit")) + (await cacheCount(main.deps.metrics, "miss"));
    expect(after).toBe(before);
  });

  test("no token, a bad token, an expired token, a wrong secret, no exp: 401 with one body", async () => {
    const now = Math.floor(Date.now() / 1000);
    const noExp = await sign({ sub: "4242" }, SECRET, "HS256");
    const credentials = [undefined, "not-a-token", await token(4242, now - 10), await token(4242, now + 3600, "another-secret-xyz"), noExp];
    const bodies = new Set<string>();
    for (const credential of credentials) {
      const res = await get("/v1/members/4242", credential);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toBe("Bearer");
      bodies.add(await res.text());
    }
    expect(bodies.size).toBe(1);
    const [body] = bodies;
    expect(JSON.parse(body)).toEqual({ error: { code: "unauthorized", message: expect.any(String) } });
    expect(body).not.toContain("4242");
  });

  test("a remembered member token stops working when it expires", async () => {
    const member = 31337;
    const exp = Math.ceil((Date.now() + 300) / 1000); // expires within the next 0.3 … 1.3 s
    const t = await token(member, exp);
    expect((await get(`/v1/members/${member}`, t)).status).toBe(200);
    expect((await get(`/v1/members/${member}`, t)).status).toBe(200); // from the verified-token cache
    await Bun.sleep(exp * 1000 - Date.now() + 20);
    expect((await get(`/v1/members/${member}`, t)).status).toBe(401);
  });

  test("the wrong scope is 403: ingest and claim keys cannot read, a read key cannot ingest, a member token cannot read stats", async () => {
    for (const key of [KEYS.ingest, KEYS.claim]) {
      const res = await get("/v1/members/4242", key);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    }
    const before = await ordersInStream();
    const ingest = await post("/v1/orders", [paid("scope-1", 5, 1000)], KEYS.read);
    expect(ingest.status).toBe(403);
    expect(((await ingest.json()) as { error: { code: string } }).error.code).toBe("forbidden");
    expect((await post("/v1/orders", [paid("scope-2", 5, 1000)], await token(5))).status).toBe(403);
    expect(await ordersInStream()).toBe(before);

    expect((await get("/v1/stats", await token(5))).status).toBe(403);
    expect((await get("/v1/stats", KEYS.ingest)).status).toBe(403);
    expect((await get("/v1/stats")).status).toBe(401);
  });

  test("the member read answers alike through its fast path and through the Hono route", async () => {
    const member = 4242;
    const counted = async () => {
      const text = await (await get("/metrics")).text();
      return Number(/tierstream_http_requests_total\{route="\/v1\/members\/:id",status="200"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await counted();
    const fast = await get(`/v1/members/${member}`, KEYS.read);
    expect(fast.status).toBe(200);
    const view = await fast.json();
    // "%34242" is 4242 once Hono decodes it: the fast path leaves any %-escape to Hono.
    const viaHono = await get("/v1/members/%34242", KEYS.read);
    expect(viaHono.status).toBe(200);
    expect(await viaHono.json()).toEqual(view);
    expect(await counted()).toBe(before + 2);
    const head = await fetch(`${main.url}/v1/members/${member}`, { method: "HEAD", headers: { authorization: `Bearer ${KEYS.read}` } });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
    const trailing = await get(`/v1/members/${member}/`, KEYS.read);
    expect(trailing.status).toBe(404);
    expect(((await trailing.json()) as { error: { code: string } }).error.code).toBe("not_found");
    const anonymous = await get(`/v1/members/${member}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe("Bearer");
  });

  test("a member id that is not an integer 1 … 2^53−1 is 400 bad_member", async () => {
    for (const id of ["abc", "0", "-1", "1.5", "01", "1e3", "9007199254740992", "99999999999999999999", "%20"]) {
      const res = await get(`/v1/members/${id}`, KEYS.read);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("bad_member");
    }
  });

  test("POST /v1/orders with JSON (an array, and {orders}) is 202 and the member view reflects it", async () => {
    const member = 5001;
    const before = await ordersInStream();
    const res = await post("/v1/orders", [paid("j-1", member, 10_000), paid("j-2", member, 5_000, T, "eleme")], KEYS.ingest);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2 });
    expect(await ordersInStream()).toBe(before + 1); // one partition: one message
    await eventually(async () => (await scoreOf(member)) === 200, "100 + 100 points");

    const wrapped = await post("/v1/orders", { orders: [paid("j-3", member, 30_000, T, "tmall")] }, KEYS.admin);
    expect(wrapped.status).toBe(202);
    expect(await wrapped.json()).toEqual({ accepted: 1 });
    await eventually(async () => (await scoreOf(member)) === 500, "gold at 500 points");
    const view = (await (await get(`/v1/members/${member}`, KEYS.read)).json()) as { tier: string; lines: Record<string, number> };
    expect(view.tier).toBe("gold");
    expect(view.lines).toEqual({ taobao: 100, eleme: 100, tmall: 300 });
  });

  test("POST /v1/orders with msgpack is 202 and the member view reflects it; orders are split by partition", async () => {
    const members = [6001, 6002, 6003, 6004, 6005, 6006];
    const partitions = new Set(members.map((m) => partitionOf(m, 64)));
    expect(partitions.size).toBeGreaterThan(1);
    const before = await ordersInStream();
    const ingested = (await main.deps.metrics.ordersIngested.get()).values[0]?.value ?? 0;
    const res = await post("/v1/orders", encodeOrders(members.map((m) => paid(`mp-${m}`, m, 60_000))), KEYS.ingest);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: members.length });
    expect(await ordersInStream()).toBe(before + partitions.size);
    expect((await main.deps.metrics.ordersIngested.get()).values[0]?.value).toBe(ingested + members.length);
    for (const m of members) await eventually(async () => (await scoreOf(m)) === 600, `member ${m} at 600 points`);
  });

  test("one invalid item refuses the whole batch with per-item errors, and nothing is published", async () => {
    const member = 7001;
    const before = await ordersInStream();
    const batch = [
      paid("ok-1", member, 10_000),
      { ...paid("bad-line", member, 10_000), line: "nope" },
      { kind: "tick", ts: T },
      paid("future", member, 10_000, Date.now() + 3_600_000),
      { ...paid("bad-amount", member, 0) },
      paid("ok-2", member, 20_000),
    ];
    const res = await post("/v1/orders", batch, KEYS.ingest);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string; items: { item: number; code: string; message: string }[] } };
    expect(body.error.code).toBe("invalid_orders");
    expect(body.error.items.map(({ item, code }) => ({ item, code }))).toEqual([
      { item: 1, code: "bad_line" },
      { item: 2, code: "bad_kind" },
      { item: 3, code: "ts_in_future" },
      { item: 4, code: "bad_amount" },
    ]);
    for (const item of body.error.items) expect(item.message.length).toBeGreaterThan(0);

    // msgpack: the same verdicts; a tick is refused there too.
    const packed = await post("/v1/orders", encodeOrders([paid("ok-3", member, 10_000), { kind: "tick", ts: T }]), KEYS.ingest);
    expect(packed.status).toBe(400);
    const packedBody = (await packed.json()) as { error: { items: { item: number; code: string }[] } };
    expect(packedBody.error.items.map(({ item, code }) => ({ item, code }))).toEqual([{ item: 1, code: "bad_kind" }]);

    expect(await ordersInStream()).toBe(before);
    expect(await scoreOf(member)).toBe(0);
  });

  test("bad bodies: not JSON, not msgpack, a wrong shape, no orders, another media type, too many, too large", async () => {
    const before = await ordersInStream();
    const code = async (res: Response) => ({ status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code });
    const raw = (body: string | Uint8Array, type: string) =>
      fetch(`${main.url}/v1/orders`, { method: "POST", headers: { authorization: `Bearer ${KEYS.ingest}`, "content-type": type }, body });

    expect(await code(await raw("[{", "application/json"))).toEqual({ status: 400, code: "malformed" });
    expect(await code(await raw(new Uint8Array([0xc1]), "application/msgpack"))).toEqual({ status: 400, code: "malformed" });
    expect(await code(await raw('{"order": []}', "application/json"))).toEqual({ status: 400, code: "bad_shape" });
    expect(await code(await raw("[]", "application/json"))).toEqual({ status: 400, code: "empty_batch" });
    expect(await code(await raw("[]", "text/plain"))).toEqual({ status: 415, code: "unsupported_media_type" });

    const many = Array.from({ length: 10_001 }, (_, i) => paid(`many-${i}`, 8001, 100));
    expect(await code(await post("/v1/orders", many, KEYS.ingest))).toEqual({ status: 413, code: "batch_too_large" });
    expect(await code(await raw(" ".repeat(4 * 1024 * 1024 + 1), "application/json"))).toEqual({ status: 413, code: "body_too_large" });
    expect(await code(await post("/v1/orders", [paid("k", 8001, 100)], KEYS.ingest, { "idempotency-key": "has space" }))).toEqual({
      status: 400,
      code: "bad_idempotency_key",
    });
    expect(await ordersInStream()).toBe(before);
  });

  test("the same batch posted twice with one Idempotency-Key is stored and counted once", async () => {
    const member = 9001;
    const batch = [paid("idem-1", member, 10_000), paid("idem-2", member, 20_000)];
    const before = await ordersInStream();
    const headers = { "idempotency-key": `retry-${crypto.randomUUID()}` };
    for (let i = 0; i < 2; i++) {
      const res = await post("/v1/orders", batch, KEYS.ingest, headers);
      expect(res.status).toBe(202);
      expect(await res.json()).toEqual({ accepted: 2 });
    }
    expect(await ordersInStream()).toBe(before + 1); // JetStream dropped the second message
    await eventually(async () => (await scoreOf(member)) === 300, "300 points");
    await Bun.sleep(100);
    expect(await scoreOf(member)).toBe(300);
  });

  test("a publish failure is 503 unavailable; the retry with the same key publishes only what was missing", async () => {
    const members = [9101, 9102, 9103, 9104, 9105, 9106, 9107, 9108];
    const partitions = new Set(members.map((m) => partitionOf(m, 64)));
    expect(partitions.size).toBeGreaterThan(2);
    // A JetStream client that loses one publish, once.
    let failures = 1;
    const flaky = {
      publish: (...args: Parameters<JetStreamClient["publish"]>) => {
        if (failures > 0 && args[0] === `orders.${partitionOf(members[0], 64)}`) {
          failures--;
          return Promise.reject(new Error("simulated timeout"));
        }
        return js.publish(...args);
      },
    } as JetStreamClient;
    const app = serve(options(), { js: flaky });
    const batch = members.map((m) => paid(`flaky-${m}`, m, 10_000));
    const headers = { "idempotency-key": `k-${crypto.randomUUID()}` };
    const before = await ordersInStream();

    const first = await post("/v1/orders", batch, KEYS.ingest, headers, app);
    expect(first.status).toBe(503);
    const err = ((await first.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe("unavailable");
    expect(err.message).toContain("Idempotency-Key");
    expect(await ordersInStream()).toBe(before + partitions.size - 1);

    const retry = await post("/v1/orders", batch, KEYS.ingest, headers, app);
    expect(retry.status).toBe(202);
    expect(await ordersInStream()).toBe(before + partitions.size);
    expect((await app.deps.metrics.ordersIngested.get()).values[0]?.value).toBe(members.length);
    for (const m of members) await eventually(async () => (await scoreOf(m)) === 100, `member ${m} at 100 points`);
  });

  test("the cache serves a second read, and cache.delete makes the next read fresh", async () => {
    const app = serve(options({ memberCacheTtlMs: 60_000 }));
    const member = 10_001;
    const read = async () => ((await (await get(`/v1/members/${member}`, KEYS.read, app)).json()) as { score: number }).score;
    expect(await read()).toBe(0);
    expect(await cacheCount(app.deps.metrics, "miss")).toBe(1);
    expect(await cacheCount(app.deps.metrics, "hit")).toBe(0);

    await publishOrders(js, [paid("cache-1", member, 10_000)]);
    await eventually(async () => (await memberViaService(nc, member)).score === 100, "the engine applies the order");
    expect(await read()).toBe(0); // cached
    expect(await cacheCount(app.deps.metrics, "hit")).toBe(1);

    app.deps.cache.delete(member);
    expect(await read()).toBe(100);
    expect(await cacheCount(app.deps.metrics, "miss")).toBe(2);
  });

  test("stats: the engine, its 64 partitions, members per tier, and this gateway's feed", async () => {
    await eventually(async () => {
      const res = await get("/v1/stats", KEYS.read);
      const s = (await res.json()) as { membersPerTier: Record<string, number> };
      return res.status === 200 && s.membersPerTier.gold >= 1;
    }, "stats that count member 5001 as gold");
    const res = await get("/v1/stats", KEYS.read);
    const stats = (await res.json()) as {
      membersPerTier: Record<string, number>;
      eventsPerSec: number;
      engines: { engine: string; partitions: number[]; eventsPerSec: number }[];
      partitions: { total: number; owned: number; unowned: number[]; owners: Record<string, string> };
      gateway: { connections: number; members: number };
    };
    expect(Object.keys(stats.membersPerTier)).toEqual(["bronze", "silver", "gold", "platinum", "diamond", "black_diamond"]);
    expect(stats.membersPerTier.silver).toBeGreaterThanOrEqual(1); // 4242
    expect(stats.membersPerTier.gold).toBeGreaterThanOrEqual(7); // 5001, 6001 … 6006
    expect(stats.engines).toHaveLength(1);
    expect(stats.engines[0].partitions).toEqual(Array.from({ length: 64 }, (_, p) => p));
    expect(typeof stats.eventsPerSec).toBe("number");
    expect(stats.partitions).toMatchObject({ total: 64, owned: 64, unowned: [] });
    expect(Object.keys(stats.partitions.owners)).toHaveLength(64);
    expect(stats.partitions.owners["17"]).toBe(stats.engines[0].engine);
    expect(stats.gateway).toEqual({ connections: 3, members: 2 });
  });

  test("/metrics is Prometheus text with requests counted by route pattern, not raw path", async () => {
    const res = await get("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("tierstream_http_requests_total");
    expect(text).toMatch(/tierstream_http_requests_total\{route="\/v1\/members\/:id",status="200"\} \d+/);
    expect(text).toMatch(/tierstream_http_requests_total\{route="\/v1\/members\/:id",status="403"\} \d+/);
    expect(text).toMatch(/tierstream_http_requests_total\{route="unmatched",status="404"\} \d+/);
    expect(text).toContain('tierstream_http_request_seconds_bucket{le="0.001",route="/v1/orders"}');
    expect(text).not.toContain("/v1/members/4242");
  });

  // Last: stops the engine.
  test("readyz is 200 with the engine up, 503 naming what is missing once it stops", async () => {
    const ready = await get("/readyz");
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true });

    await engine?.stop();
    engine = undefined;
    let body: { error: { code: string; message: string } } | undefined;
    await eventually(async () => {
      const res = await get("/readyz");
      body = res.status === 503 ? ((await res.json()) as typeof body) : undefined;
      return body !== undefined;
    }, "readyz 503");
    expect(body?.error.code).toBe("not_ready");
    expect(body?.error.message).toContain("no engine answered");

    const member = await get("/v1/members/123456789", KEYS.read);
    expect(member.status).toBe(503);
    expect(((await member.json()) as { error: { code: string } }).error.code).toBe("unavailable");
  });
});

describe("pathOf", () => {
  test("is the path of an absolute URL, without query or fragment", () => {
    expect(pathOf("http://127.0.0.1:8080/v1/feed?token=a/b")).toBe("/v1/feed");
    expect(pathOf("http://h/v1/feed#x")).toBe("/v1/feed");
    expect(pathOf("http://h:1/v1/members/7")).toBe("/v1/members/7");
    expect(pathOf("http://h")).toBe("/");
    expect(pathOf("http://h/v1/feedback")).not.toBe("/v1/feed");
    for (const u of ["http://a.b:9/x/y?q=1", "https://x/%20/?", "http://x/"]) expect(pathOf(u)).toBe(new URL(u).pathname);
  });
});
