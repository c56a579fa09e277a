// The engine's side of view notices (engine/view-notices.ts), over a real NATS connection:
// batching, the message split, the "all" fallback, heartbeats and a run's last notice.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { NOTICE_MEMBERS_MAX, NoticeBatcher, ViewNotices } from "../engine/view-notices.ts";
import type { ScoreSink } from "../engine/score-feed.ts";
import { eventually } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";
import { type HeardNotice, listenToNotices } from "./harness/notices.ts";

const sink: ScoreSink = { touched() {} };

describe("NoticeBatcher", () => {
  const nats = useNatsServer();
  let nc: NatsConnection;
  let sub: NatsConnection;
  let heard: HeardNotice[] = [];
  let messages = () => 0;

  beforeAll(async () => {
    nc = await connect({ servers: nats.url });
    sub = await connect({ servers: nats.url });
    ({ heard, messages } = listenToNotices(sub));
    await sub.flush();
  });

  afterAll(async () => {
    await nc?.close();
    await sub?.close();
  });

  const settle = async (count: number) => {
    await nc.flush();
    await eventually(() => heard.length >= count, `${count} notices heard`, 3000);
  };

  test("a run's first notice, then one message for every partition that applied something; long batches split", async () => {
    heard.length = 0;
    const batcher = new NoticeBatcher(nc);
    const runs = Array.from({ length: 20 }, (_, p) => new ViewNotices(batcher, p, 100 + p, 10, sink));
    for (const r of runs) batcher.add(r);
    await settle(20);
    expect(heard.map((h) => [h.partition, h.run, h.from, h.to, h.members.length])).toEqual(runs.map((r) => [r.partition, r.run, 10, 10, 0]));
    expect(new Set(heard.map((h) => h.message)).size).toBe(1);

    heard.length = 0;
    const firstMessage = messages();
    // 20 × 4000 members: more than one message holds (64 Ki floats).
    for (const r of runs) {
      for (let m = 1; m <= 4000; m++) r.touched(r.partition * 1_000_000 + m, 0, 0, 0, 0);
      r.applied(20, false);
    }
    await settle(20);
    expect(messages() - firstMessage).toBeGreaterThan(1);
    for (const r of runs) {
      const mine = heard.filter((h) => h.partition === r.partition);
      expect(mine.length).toBe(1);
      expect([mine[0].from, mine[0].to, mine[0].all]).toEqual([10, 20, false]);
      expect(mine[0].members).toEqual(Array.from({ length: 4000 }, (_, i) => r.partition * 1_000_000 + i + 1));
    }
    batcher.stop();
  });

  test("a member touched again in a row is listed once; past the limit a notice says all", async () => {
    heard.length = 0;
    const batcher = new NoticeBatcher(nc);
    const r = new ViewNotices(batcher, 7, 1, 0, sink);
    batcher.add(r);
    for (const m of [5, 5, 5, 6, 5]) r.touched(m, 0, 0, 0, 0);
    r.applied(3, false);
    await settle(1);
    expect(heard.at(-1)!.members).toEqual([5, 6, 5]);
    const before = heard.length;
    for (let m = 1; m <= NOTICE_MEMBERS_MAX + 1; m++) r.touched(m, 0, 0, 0, 0);
    r.applied(4, false);
    await settle(before + 1);
    expect(heard.at(-1)).toMatchObject({ from: 3, to: 4, all: true, members: [] });
    batcher.stop();
  });

  test("heartbeats carry every run, empty where nothing changed; a removed run sends what it had and is heard no more", async () => {
    heard.length = 0;
    const batcher = new NoticeBatcher(nc);
    const a = new ViewNotices(batcher, 1, 11, 5, sink);
    const b = new ViewNotices(batcher, 2, 22, 8, sink);
    batcher.add(a);
    batcher.add(b);
    await settle(2);
    heard.length = 0;
    batcher.heartbeat();
    await settle(2);
    expect(heard.map((h) => [h.partition, h.from, h.to])).toEqual([
      [1, 5, 5],
      [2, 8, 8],
    ]);

    heard.length = 0;
    b.touched(99, 0, 0, 0, 0);
    b.applied(9, false);
    batcher.remove(b); // at once, not after the batch delay
    await settle(1);
    expect(heard).toEqual([expect.objectContaining({ partition: 2, from: 8, to: 9, members: [99] })]);
    b.applied(10, false);
    batcher.heartbeat();
    await settle(2);
    expect(heard.slice(1).map((h) => h.partition)).toEqual([1]);
    batcher.stop();
  });
});
