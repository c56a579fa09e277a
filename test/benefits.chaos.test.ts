// A claim storm over two engine processes (disjoint partitions, one shared inventory) while
// one of them is SIGKILLed and restarted: CLAIMS ends with no more than the inventory won,
// every answered claim is in CLAIMS, and no member is over the limit.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { parseClaimRecord } from "../proto/claim-record.ts";
import { CLAIMS_ALL_FILTER, STREAM_CLAIMS } from "../proto/names.ts";
import { readSubject } from "../proto/read-subject.ts";
import { startNatsServer } from "../scripts/nats-server.ts";
import { claimViaNats, type EngineAnswer, openBenefit, putBenefit, untilEngineSees } from "./harness/benefits.ts";
import { client } from "./harness/engine.ts";

const CLI = join(import.meta.dir, "..", "scripts", "cli.ts");
const INVENTORY = 400;
const PER_MEMBER = 2;
const MEMBERS = 1500;

function spawnEngine(url: string, partitions: string) {
  return Bun.spawn([process.execPath, CLI, "engine", "--nats", url, "--partitions", partitions, "--name", `claims-${partitions}`], {
    stdout: "ignore",
    stderr: "ignore",
    env: { ...process.env, TIERSTREAM_CONFIG: "" },
  });
}

/** A promotion system's claim: retried with the same key until some engine answers. */
async function claimUntilAnswered(nc: Parameters<typeof claimViaNats>[0], member: number, key: string): Promise<EngineAnswer> {
  for (let attempt = 0; ; attempt++) {
    try {
      const a = await claimViaNats(nc, "chaos", member, key, true);
      if (a.status !== 503) return a;
    } catch (err) {
      if (attempt > 300) throw err;
    }
    await Bun.sleep(50);
  }
}

describe("claims under SIGKILL", () => {
  test("a storm with an engine killed and restarted: ≤ inventory won, every answer stored, nobody over the limit", async () => {
    const server = await startNatsServer();
    const c = await client(server.url);
    const a = spawnEngine(server.url, "0-31");
    let b = spawnEngine(server.url, "32-63");
    try {
      await putBenefit(c.nc, openBenefit("chaos", { inventory: INVENTORY, perMember: PER_MEMBER }));
      // Both engines up and serving: a member in each half sees the benefit.
      await untilEngineSees(c.nc, "chaos", 1);
      await untilEngineSees(c.nc, "chaos", 2);

      const members = Array.from({ length: MEMBERS }, (_, i) => 100_000 + i);
      let answered = 0;
      const storm = Promise.all(
        members.flatMap((m) =>
          [0, 1, 2].map(async (k) => {
            const answer = await claimUntilAnswered(c.nc, m, `c-${m}-${k}`);
            answered++;
            return { member: m, key: `c-${m}-${k}`, answer };
          }),
        ),
      );
      while (answered < 200) await Bun.sleep(5);
      b.kill("SIGKILL");
      const answeredAtKill = answered;
      await b.exited;
      b = spawnEngine(server.url, "32-63");
      const results = await storm;
      expect(answeredAtKill).toBeLessThan(results.length / 2); // killed in the middle of the storm

      const last = (await (await jetstreamManager(c.nc)).streams.info(STREAM_CLAIMS)).state.last_seq;
      const won = new Map<number, { member: number; key: string }>();
      for await (const m of readSubject(c.js, STREAM_CLAIMS, CLAIMS_ALL_FILTER, last)) {
        const r = parseClaimRecord(m.data);
        if (r?.outcome === "won") won.set(m.seq, r);
      }
      expect(won.size).toBeLessThanOrEqual(INVENTORY);
      expect(won.size).toBeGreaterThan(INVENTORY / 2); // the storm did run on both sides
      const perMember = new Map<number, number>();
      for (const r of won.values()) perMember.set(r.member, (perMember.get(r.member) ?? 0) + 1);
      expect(Math.max(...perMember.values())).toBeLessThanOrEqual(PER_MEMBER);
      // Every answered win is a stored record of that member and key.
      const answeredWins = results.filter((r) => r.answer.status === 200 && r.answer.body.won === true);
      for (const r of answeredWins) expect(won.get(r.answer.body.seq as number)).toEqual(expect.objectContaining({ member: r.member, key: r.key }));
      for (const r of results) expect([200, 409, 410]).toContain(r.answer.status);
    } finally {
      a.kill("SIGKILL");
      b.kill("SIGKILL");
      await c.close();
      await server.cleanup();
    }
  });
});
