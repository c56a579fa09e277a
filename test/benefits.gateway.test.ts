// Flash benefits through a real gateway (HTTP + WebSocket feed), engine and nats-server:
// definitions with clear errors, eligibility one and many, claims with their statuses and
// Idempotency-Key, and the benefit / benefit_closed push.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sign } from "hono/jwt";
import type { Engine } from "../engine/engine.ts";
import { silentLogger } from "../engine/log.ts";
import type { Frame } from "../gateway/client/frames.ts";
import type { Scope } from "../gateway/config.ts";
import { Gateway } from "../gateway/gateway.ts";
import type { Benefit } from "../proto/benefit.ts";
import { partitionOf } from "../proto/partition.ts";
import { openBenefit } from "./harness/benefits.ts";
import { type Client, client, eventually, publishOrders, startEngine } from "./harness/engine.ts";
import { testGatewayOptions } from "./harness/gateway.ts";
import { useNatsServer } from "./harness/nats.ts";

const SECRET = "benefit-secret-0123456789";
const KEYS = { read: "k-read", claim: "k-claim", admin: "k-admin" } as const;
const T = Date.now() - 60_000;

describe("flash benefits through the gateway", () => {
  const nats = useNatsServer();
  let c: Client;
  let engine: Engine;
  let gateway: Gateway;
  let base: string;

  const call = (method: string, path: string, key: string | undefined, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(base + path, {
      method,
      headers: { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const put = (b: Partial<Benefit> & { id: string }, key: string = KEYS.admin) => call("PUT", `/v1/benefits/${b.id}`, key, b);
  const claim = (id: string, member: number, idem?: string) =>
    call("POST", `/v1/benefits/${id}/claims`, KEYS.claim, { member }, idem ? { "idempotency-key": idem } : {});
  const errorCode = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  const buy = (member: number, yuan: number, id: string) =>
    publishOrders(c.js, [{ id, member, line: "taobao", kind: "paid", amount: yuan * 100, ts: T }]);

  beforeAll(async () => {
    c = await client(nats.url);
    engine = await startEngine(nats.url);
    const keys = new Map<string, Set<Scope>>([
      [KEYS.read, new Set<Scope>(["read"])],
      [KEYS.claim, new Set<Scope>(["claim"])],
      [KEYS.admin, new Set<Scope>(["admin"])],
    ]);
    gateway = await Gateway.start(testGatewayOptions(nats.url, SECRET, keys, { requestTimeoutMs: 3000 }), silentLogger);
    base = gateway.url;
  });
  afterAll(async () => {
    await gateway?.stop();
    await engine?.stop();
    await c?.close();
  });

  test("definitions: each kind of bad definition gets a clear 400; admin creates (201), replaces (200); read lists", async () => {
    const good = openBenefit("tea");
    const bad: [Record<string, unknown>, string][] = [
      [{ ...good, endsAt: good.startsAt - 1 }, "endsAt"],
      [{ ...good, odds: { bronze: 1.5, silver: 1, gold: 1, platinum: 1, diamond: 1, black_diamond: 1 } }, "odds.bronze"],
      [{ ...good, minTier: "emerald" }, "minTier"],
      [{ ...good, minTier: "gold", odds: { gold: 0.5 } }, "odds"],
      [{ ...good, perMember: 0 }, "perMember"],
      [{ ...good, inventory: -1 }, "inventory"],
      [{ ...good, id: "other" }, "id"],
      [{ ...good, colour: "red" }, "(body)"],
    ];
    for (const [body, path] of bad) {
      const res = await call("PUT", "/v1/benefits/tea", KEYS.admin, body);
      expect(res.status).toBe(400);
      const err = ((await res.json()) as { error: { code: string; problems: { path: string }[] } }).error;
      expect(err.code).toBe("bad_benefit");
      expect(err.problems.map((p) => p.path)).toContain(path);
    }
    expect((await put(good, KEYS.read)).status).toBe(403);
    expect((await put(good, KEYS.claim)).status).toBe(403);
    const created = await put(good);
    expect(created.status).toBe(201);
    expect(await created.json()).toEqual({ ...good, claimed: 0, remaining: 100 });
    expect((await put({ ...good, title: "milk tea" })).status).toBe(200);
    const got = await call("GET", "/v1/benefits/tea", KEYS.read);
    expect(((await got.json()) as Benefit).title).toBe("milk tea");
    expect((await call("GET", "/v1/benefits/none", KEYS.read)).status).toBe(404);
    const list = (await (await call("GET", "/v1/benefits", KEYS.read)).json()) as { benefits: Benefit[] };
    expect(list.benefits.map((b) => b.id)).toContain("tea");
    expect((await call("GET", "/v1/benefits", undefined)).status).toBe(401);
  });

  test("claims: 201, 409 on a new key, the same answer for the same key, 403 below the tier, 404 unknown, 410 sold out", async () => {
    expect((await put(openBenefit("cup", { inventory: 2 }))).status).toBe(201);
    expect((await put(openBenefit("vip", { minTier: "diamond" }))).status).toBe(201);
    await eventually(async () => (await claim("cup", 4001, "a")).status === 201, "the engine sees cup");
    const again = await claim("cup", 4001, "a");
    expect(again.status).toBe(201);
    const second = await claim("cup", 4001, "b");
    expect(second.status).toBe(409);
    expect(await errorCode(second)).toBe("already_claimed");
    expect((await claim("cup", 4002)).status).toBe(201);
    const soldOut = await claim("cup", 4003, "x");
    expect(soldOut.status).toBe(410);
    expect(await errorCode(soldOut)).toBe("sold_out");
    expect((await claim("cup", 4003, "x")).status).toBe(410); // the same key, the same answer
    await eventually(async () => (await claim("vip", 4004)).status !== 404, "the engine sees vip");
    const low = await claim("vip", 4004);
    expect(low.status).toBe(403);
    expect(await errorCode(low)).toBe("tier_too_low");
    expect(await errorCode(await claim("nope", 4004))).toBe("unknown_benefit");
    expect((await call("POST", "/v1/benefits/cup/claims", KEYS.read, { member: 4005 })).status).toBe(403);
    expect((await call("POST", "/v1/benefits/cup/claims", KEYS.claim, { member: "x" })).status).toBe(400);
    const state = (await (await call("GET", "/v1/benefits/cup", KEYS.read)).json()) as { claimed: number; remaining: number };
    await eventually(async () => ((await (await call("GET", "/v1/benefits/cup", KEYS.read)).json()) as { remaining: number }).remaining === 0, "remaining 0");
    expect(state.claimed).toBeLessThanOrEqual(2);
  });

  test("eligibility: one member (key or the member's own token) and up to 1000 at once, fanned out to partitions", async () => {
    expect((await put(openBenefit("many", { minTier: "silver" }))).status).toBe(201);
    await buy(5001, 300, "silver-5001");
    await eventually(async () => {
      const r = await call("GET", "/v1/members/5001/eligibility?benefit=many", KEYS.read);
      return r.status === 200 && ((await r.json()) as { eligible: boolean }).eligible;
    }, "5001 eligible");
    const own = await call("GET", "/v1/members/5001/eligibility?benefit=many", await sign({ sub: "5001", exp: Math.floor(Date.now() / 1000) + 60 }, SECRET, "HS256"));
    expect(await own.json()).toEqual({ member: 5001, eligible: true, reason: "ok", tier: "silver", benefit: "many", remaining: 100 });
    const other = await call("GET", "/v1/members/5002/eligibility?benefit=many", await sign({ sub: "5001", exp: Math.floor(Date.now() / 1000) + 60 }, SECRET, "HS256"));
    expect(other.status).toBe(403);
    const members = [5001, ...Array.from({ length: 999 }, (_, i) => 6000 + i)];
    expect(new Set(members.map((m) => partitionOf(m, 64))).size).toBe(64);
    const laneFigures = async () =>
      Object.fromEntries(
        [...(await (await fetch(`${gateway.url}/metrics`)).text()).matchAll(/^(tierstream_engine_lane_\w+?)(?:\{outcome="(\w+)"\})? (\d+)$/gm)].map((m) => [
          m[2] ? `${m[1]}:${m[2]}` : m[1],
          Number(m[3]),
        ]),
      );
    await eventually(async () => (await laneFigures()).tierstream_engine_lane_partitions_known === 64, "the gateway to know the engine's lane");
    const before = await laneFigures();
    const batch = (await (await call("POST", "/v1/eligibility", KEYS.read, { benefit: "many", members })).json()) as {
      results: { member: number; eligible: boolean; reason: string }[];
    };
    expect(batch.results.length).toBe(1000);
    expect(batch.results[0]).toEqual({ member: 5001, eligible: true, reason: "ok" });
    expect(batch.results.slice(1).every((r, i) => r.member === 6000 + i && r.reason === "tier_too_low")).toBe(true);
    // The 64 partitions' checks went out as one item on the engine's request lane, and /metrics says so.
    const after = await laneFigures();
    expect(after["tierstream_engine_lane_items_total:sent"] - before["tierstream_engine_lane_items_total:sent"]).toBe(1);
    expect(after.tierstream_engine_lane_messages_total - before.tierstream_engine_lane_messages_total).toBe(1);
    expect(after["tierstream_engine_lane_items_total:fallback"]).toBe(0);
    const tooMany = await call("POST", "/v1/eligibility", KEYS.read, { benefit: "many", members: [...members, 1] });
    expect(tooMany.status).toBe(400);
    expect(await errorCode(tooMany)).toBe("too_many_members");
  });

  test("push: open → benefit to the eligible only; an upgrade → tier then benefit; sold out and ended → benefit_closed", async () => {
    const A = 7001; // platinum before the drop
    const B = 7002; // gold, upgrades during it
    const C = 7003; // bronze: never told
    await buy(A, 1200, "a-plat");
    await buy(B, 600, "b-gold");
    await eventually(async () => ((await (await call("GET", `/v1/members/${B}`, KEYS.read)).json()) as { tier: string }).tier === "gold", "B gold");
    await eventually(async () => ((await (await call("GET", `/v1/members/${A}`, KEYS.read)).json()) as { tier: string }).tier === "platinum", "A platinum");
    const feeds = new Map<number, Frame[]>();
    const sockets: WebSocket[] = [];
    for (const m of [A, B, C]) {
      const frames: Frame[] = [];
      feeds.set(m, frames);
      const ws = new WebSocket(`${base.replace("http", "ws")}/v1/feed?token=${await sign({ sub: String(m), exp: Math.floor(Date.now() / 1000) + 600 }, SECRET, "HS256")}`);
      ws.onmessage = (ev) => frames.push(JSON.parse(ev.data as string) as Frame);
      sockets.push(ws);
    }
    await eventually(() => [...feeds.values()].every((f) => f.some((x) => x.type === "hello")), "three hellos");
    const now = Date.now();
    expect((await put(openBenefit("drop", { minTier: "platinum", inventory: 1, startsAt: now + 300, endsAt: now + 60_000 }))).status).toBe(201);
    expect((await put(openBenefit("short", { minTier: "platinum", inventory: null, startsAt: now + 300, endsAt: now + 1500 }))).status).toBe(201);
    // Earlier tests' benefits are open too: only this test's two count.
    const benefitsOf = (m: number) =>
      feeds.get(m)!.filter((f) => (f.type === "benefit" || f.type === "benefit_closed") && (f.benefit === "drop" || f.benefit === "short"));
    await eventually(() => benefitsOf(A).filter((f) => f.type === "benefit").length === 2, "A told of both");
    expect(benefitsOf(A).find((f) => f.type === "benefit" && f.benefit === "drop")).toEqual({ type: "benefit", benefit: "drop", eligible: true, endsAt: now + 60_000, remaining: 1 });
    expect(benefitsOf(B)).toEqual([]);

    await buy(B, 500, "b-plat");
    await eventually(() => benefitsOf(B).filter((f) => f.type === "benefit").length === 2, "B told after upgrading");
    const bFrames = feeds.get(B)!.map((f) => (f.type === "benefit" ? `benefit:${f.benefit}` : f.type));
    expect(bFrames.indexOf("tier")).toBeGreaterThan(0);
    expect(bFrames.indexOf("tier")).toBeLessThan(bFrames.indexOf("benefit:drop"));

    expect((await claim("drop", A, "a-drop")).status).toBe(201);
    for (const m of [A, B]) {
      await eventually(() => benefitsOf(m).some((f) => f.type === "benefit_closed" && f.benefit === "drop"), `${m} told drop closed`);
      expect(benefitsOf(m).find((f) => f.type === "benefit_closed" && f.benefit === "drop")).toEqual({ type: "benefit_closed", benefit: "drop", reason: "sold_out" });
      await eventually(() => benefitsOf(m).some((f) => f.type === "benefit_closed" && f.benefit === "short"), `${m} told short ended`);
      expect(benefitsOf(m).find((f) => f.type === "benefit_closed" && f.benefit === "short")).toEqual({ type: "benefit_closed", benefit: "short", reason: "ended" });
    }
    expect(benefitsOf(C)).toEqual([]);
    for (const ws of sockets) ws.close();
  });
});
