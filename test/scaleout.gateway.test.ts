// Routing follows ownership: member reads through a gateway keep answering — right — while the
// engine serving them hands its partitions off to another (`--partitions auto`, in process).

import { afterAll, describe, expect, test } from "bun:test";
import { AutoEngine } from "../engine/auto-engine.ts";
import { loadConfig } from "../engine/config.ts";
import { silentLogger } from "../engine/log.ts";
import type { Scope } from "../gateway/config.ts";
import { Gateway } from "../gateway/gateway.ts";
import { type Order, partitionOf } from "../proto/index.ts";
import { client, eventually, publishOrders } from "./harness/engine.ts";
import { testGatewayOptions } from "./harness/gateway.ts";
import { useNatsServer } from "./harness/nats.ts";

const KEY = "scaleout-read";
const T = Date.now() - 3_600_000;
const autos: AutoEngine[] = [];
afterAll(async () => {
  for (const a of autos) await a.stop({ handoff: false }).catch(() => {});
});

describe("routing through a hand-off", () => {
  const nats = useNatsServer();

  test("reads keep answering, with the right score, while partitions move", async () => {
    const c = await client(nats.url);
    const start = (name: string) =>
      AutoEngine.start({ natsUrl: nats.url, config: loadConfig({ tickIntervalMs: 0 }), name, log: silentLogger, leaseTtlMs: 1000 });
    const a = await start("route-a");
    autos.push(a);
    await eventually(() => a.engine.runners.size === 64 && a.engine.ready, "a serves everything", 15_000);
    // A 1 ms member cache (notices or not): every read is a request to whichever engine owns the member now.
    const gw = await Gateway.start(testGatewayOptions(nats.url, "route-secret-0123456789", new Map([[KEY, new Set<Scope>(["read"])]]), { memberCacheTtlMs: 1, memberCacheMaxAgeMs: 1 }), silentLogger);
    try {
      const members = Array.from({ length: 32 }, (_, i) => 900_000 + i);
      expect(new Set(members.map((m) => partitionOf(m, 64))).size).toBeGreaterThan(16);
      const orders: Order[] = members.map((m, i) => ({ id: `r${i}`, member: m, line: "taobao", kind: "paid", amount: 100_00 * (1 + (i % 5)), ts: T }));
      await publishOrders(c.js, orders);
      const expected = new Map(members.map((m, i) => [m, 100 * (1 + (i % 5))]));
      // Every member's order applied (partitions apply in their own time; one member right says
      // nothing of another partition's, and a read before its order is applied rightly says 0).
      await eventually(async () => {
        for (const m of members) {
          const r = await fetch(`${gw.url}/v1/members/${m}`, { headers: { authorization: `Bearer ${KEY}` } });
          if (r.status !== 200 || ((await r.json()) as { score: number }).score !== expected.get(m)) return false;
        }
        return true;
      }, "orders applied");

      // Reads in a loop while b joins (a hands half off) and then a leaves (b takes the rest).
      let reading = true;
      const answers: { status: number; score: number; member: number }[] = [];
      const reader = (async () => {
        for (let k = 0; reading; k++) {
          const m = members[k % members.length];
          const r = await fetch(`${gw.url}/v1/members/${m}`, { headers: { authorization: `Bearer ${KEY}` } });
          answers.push({ status: r.status, member: m, score: r.status === 200 ? ((await r.json()) as { score: number }).score : -1 });
        }
      })();
      const b = await start("route-b");
      autos.push(b);
      await eventually(() => b.engine.runners.size === 32 && a.engine.runners.size === 32, "a and b share", 15_000);
      await a.stop({ handoff: true });
      await eventually(() => b.engine.runners.size === 64 && b.engine.ready, "b serves everything", 15_000);
      await Bun.sleep(300);
      reading = false;
      await reader;

      expect(answers.length).toBeGreaterThan(100);
      const failed = answers.filter((x) => x.status !== 200);
      expect(failed).toEqual([]);
      const wrong = answers.filter((x) => x.score !== expected.get(x.member));
      expect(wrong).toEqual([]);
    } finally {
      await gw.stop();
      await c.close();
    }
  }, 60_000);
});
