// Partitions that move between engines at run time: a planned hand-off (removePartition on
// one, addPartition on the other) continues exactly where the first stopped — every tier
// change in TIER_EVENTS once — and a fenced partition applies and publishes nothing more.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Engine } from "../engine/engine.ts";
import { memberRequestSubject, type Order, partitionOf } from "../proto/index.ts";
import { type Client, client, eventually, memberViaService, publishOrders, readTierChanges, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

const T = Date.now() - 3_600_000;
const paid = (id: string, member: number, yuan: number): Order => ({ id, member, line: "taobao", kind: "paid", amount: yuan * 100, ts: T });

describe("partitions moving between engines", () => {
  const nats = useNatsServer();
  let c: Client;
  const engines: Engine[] = [];
  const dir = mkdtempSync(join(tmpdir(), "tierstream-handoff-"));

  beforeAll(async () => {
    c = await client(nats.url);
  });
  afterAll(async () => {
    for (const e of engines) await e.stop();
    await c?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a planned hand-off: the second owner continues from the first's snapshot, no change lost or doubled", async () => {
    const member = 11; // its partition moves
    const p = partitionOf(member, 64);
    const a = await startEngine(nats.url, {}, undefined, { snapshotDir: dir, name: "a" });
    const b = await startEngine(nats.url, {}, [], { snapshotDir: dir, name: "b" });
    engines.push(a, b);
    expect(b.runners.size).toBe(0);

    await publishOrders(c.js, [paid("h1", member, 250)]); // silver
    await eventually(async () => (await memberViaService(c.nc, member)).tier === "silver", "silver on a");
    await a.removePartition(p);
    expect(a.runners.has(p)).toBe(false);
    await expect(c.nc.request(memberRequestSubject(p), JSON.stringify({ member }), { timeout: 500 })).rejects.toThrow();

    await publishOrders(c.js, [paid("h2", member, 300)]); // gold, while nobody owns p
    await b.addPartition(p);
    await b.whenCaughtUp();
    const view = await memberViaService(c.nc, member);
    expect(view.tier).toBe("gold");
    expect(view.score).toBe(550);
    // b started from a's snapshot, not from the start of the log.
    expect(b.runners.get(p)!.snapshotSeq).toBeGreaterThan(0);
    const changes = (await readTierChanges(c.nc, `tier.${p}.${member}`)).map((x) => `${x.from}>${x.to}`);
    expect(changes).toEqual(["bronze>silver", "silver>gold"]);
  });

  test("a fenced partition applies and publishes nothing after its lease is gone", async () => {
    const member = 12;
    const p = partitionOf(member, 64);
    let holds = true;
    const e = await startEngine(nats.url, {}, [], { name: "fenced" });
    engines.push(e);
    for (const other of engines) if (other !== e) await other.removePartition(p);
    await e.addPartition(p, () => holds);
    await e.whenCaughtUp();
    await publishOrders(c.js, [paid("f1", member, 250)]);
    await eventually(async () => (await readTierChanges(c.nc, `tier.${p}.${member}`)).length === 1, "the first change");
    holds = false; // the lease ran out (a pause longer than its TTL)
    await publishOrders(c.js, [paid("f2", member, 300)]);
    await Bun.sleep(500);
    expect((await readTierChanges(c.nc, `tier.${p}.${member}`)).length).toBe(1);
    expect(e.runners.get(p)!.lastSeq).toBeLessThan((await c.js.jetstreamManager().then((m) => m.streams.info("ORDERS"))).state.last_seq);
    e.fencePartition(p);
    expect(e.runners.has(p)).toBe(false);
  });
});
