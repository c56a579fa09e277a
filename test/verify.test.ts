// tierstream verify: zero differences on a real engine's output; and it does see a doubled
// tier change, a missing one, and an engine whose state disagrees with the log.

import { describe, expect, test } from "bun:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { loadConfig } from "../engine/config.ts";
import { PartitionState } from "../engine/state/partition-state.ts";
import { OrderGenerator } from "../loadtest/population.ts";
import { partitionOf, STREAM_TIER_EVENTS } from "../proto/index.ts";
import { verify } from "../scripts/verify.ts";
import { client, eventually, publishOrders, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

describe("verify", () => {
  const nats = useNatsServer();

  test("finds nothing on an honest engine, and finds every kind of tampering", async () => {
    const c = await client(nats.url);
    const DAY_MS = 86_400_000;
    // 8 000 orders over ~150 days of event time: refunds, late orders, month rollovers.
    const gen = new OrderGenerator({ seed: 5, members: 600, startTs: Date.now() - 150 * DAY_MS, ratePerSec: 8000 / (150 * 86_400) });
    const orders = Array.from({ length: 8000 }, () => gen.next());
    const engine = await startEngine(nats.url);
    for (let i = 0; i < orders.length; i += 500) await publishOrders(c.js, orders.slice(i, i + 500));
    await eventually(() => engine.counters.eventsApplied + engine.counters.duplicates >= 7900, "the orders applied", 30_000);
    await Bun.sleep(300);
    const config = loadConfig({});
    const honest = await verify(c.nc, config, [...Array(64).keys()]);
    expect(honest.differences).toEqual([]);
    expect(honest.members).toBeGreaterThan(400);
    expect(honest.tierChangesExpected).toBeGreaterThan(200);
    expect(honest.tierChangesStored).toBe(honest.tierChangesExpected);

    // A doubled change and a forged one in TIER_EVENTS.
    const jsm = await jetstreamManager(c.nc);
    const first = await jsm.streams.getMessage(STREAM_TIER_EVENTS, { seq: 1 });
    await c.js.publish(first!.subject, first!.data);
    const member = gen.memberOfRank(1);
    const p = partitionOf(member, 64);
    await c.js.publish(`tier.${p}.${member}`, JSON.stringify({ member, from: "bronze", to: "diamond", score: 1, ts: 1, cause: "forged" }));
    // And an engine that lost its state for partition p: replace it with an empty one.
    engine.runners.get(p)!.state = new PartitionState(config, p);
    const tampered = await verify(c.nc, config, [...Array(64).keys()]);
    const lines = tampered.differences.map((d) => d.what);
    expect(lines.filter((l) => l.includes("extra or doubled")).length).toBe(2);
    expect(lines.some((l) => l.includes('"forged"'))).toBe(true);
    expect(tampered.differences.some((d) => d.partition === p && d.member === member && d.what.startsWith("engine has score 0"))).toBe(true);

    // A change missing from TIER_EVENTS.
    await jsm.streams.deleteMessage(STREAM_TIER_EVENTS, 2);
    const missing = await verify(c.nc, config, [...Array(64).keys()]);
    expect(missing.differences.some((d) => d.what.startsWith("tier change missing"))).toBe(true);
    await engine.stop();
    await c.close();
  });
});
