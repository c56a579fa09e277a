// Fencing with a real freeze: a child process holding a lease is SIGSTOPped past its TTL,
// another process takes the partition over, and the child, resumed, publishes nothing more —
// every marker of the child stored after the new owner's first one was decided before the
// freeze (a publish already on its way when the process froze).

import { afterAll, describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { LeaseTable } from "../engine/ownership/lease-table.ts";
import { eventually, freshBucket, leaseProcess } from "./harness/ownership.ts";
import { useNatsServer } from "./harness/nats.ts";

const TTL_MS = 1_000;
const nats = useNatsServer();
const children: Bun.Subprocess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
});

/** A process's state letter from /proc/<pid>/stat (R running, S sleeping, T stopped …). */
async function stateOf(pid: number): Promise<string> {
  const stat = await Bun.file(`/proc/${pid}/stat`).text();
  return stat.slice(stat.lastIndexOf(")") + 2).charAt(0);
}

interface Marker {
  owner: string;
  epoch: number;
  issuedAt: number;
}

describe("a lease holder frozen with SIGSTOP", () => {
  test("publishes nothing for its partition once resumed, after another process took it", async () => {
    const nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "FENCE", subjects: ["fence.>"] });
    const bucket = freshBucket();
    const p = 5;

    const child = Bun.spawn([process.execPath, `${import.meta.dir}/harness/lease-child.ts`, nats.url, bucket, String(p), String(TTL_MS)], {
      stdout: "pipe",
      stderr: "inherit",
    });
    children.push(child);
    const lines: string[] = [];
    void (async () => {
      const decoder = new TextDecoder();
      let rest = "";
      for await (const chunk of child.stdout) {
        rest += decoder.decode(chunk);
        const parts = rest.split("\n");
        rest = parts.pop()!;
        lines.push(...parts);
      }
    })();
    await eventually(() => lines.some((l) => l.startsWith("acquired")), "the child's lease");
    await eventually(async () => (await jsm.streams.info("FENCE")).state.messages > 20, "the child's markers");

    const b = await leaseProcess(nats.url, bucket);
    const table = new LeaseTable({ view: b.view, owner: "b", partitions: p + 1, ttlMs: TTL_MS });
    table.start();
    try {
      await Bun.sleep(100); // b's view has the child's recent renewals
      child.kill("SIGSTOP");
      // The signal takes effect when the kernel next stops the child, not when kill() returns:
      // it may still issue a marker meanwhile. Stopped ("T" in /proc) is when the freeze holds.
      await eventually(async () => (await stateOf(child.pid)) === "T", "the child to be stopped");
      const stoppedAt = Date.now();
      await eventually(async () => (await table.tryAcquire(p)).ok, "b to take over", 5 * TTL_MS);
      const js = jetstream(nc);
      for (let i = 0; i < 5; i++) await js.publish(`fence.${p}`, JSON.stringify({ owner: "b", epoch: table.epochOf(p), issuedAt: Date.now() }));
      child.kill("SIGCONT");
      await eventually(() => lines.some((l) => l.startsWith("fenced")), "the child to notice", 2_000);
      await Bun.sleep(300); // anything it would still send has landed by now

      const markers: Marker[] = [];
      const count = (await jsm.streams.info("FENCE")).state.messages;
      for (let seq = 1; seq <= count; seq++) markers.push((await jsm.streams.getMessage("FENCE", { seq }))!.json<Marker>());
      const firstOfB = markers.findIndex((m) => m.owner === "b");
      const childAfterB = markers.slice(firstOfB).filter((m) => m.owner !== "b");
      expect(childAfterB.every((m) => m.issuedAt < stoppedAt)).toBe(true);
      expect(childAfterB.length).toBeLessThanOrEqual(1); // at most the one on its way
      expect(markers[firstOfB].epoch).toBe(markers[0].epoch + 1);
      expect(lines.some((l) => l.startsWith(`lost ${p} expired `))).toBe(true);
      expect(table.holds(p)).toBe(true);
    } finally {
      table.stop();
      child.kill("SIGKILL");
      await b.close();
      await nc.close();
    }
  }, 20_000);
});
