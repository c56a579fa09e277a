// Tier marks (engine/tier-marks.ts): a clean stop leaves each partition's place in TIER_EVENTS
// in the TIER_MARKS bucket, the next start trusts it instead of searching the stream, and a
// mark that cannot be trusted (open after a crash or a lost lease, wrong, or pointing at a
// message that is gone) means the search, as before. Whichever way a runner found its place,
// nothing is published twice: TIER_EVENTS's duplicate window is shortened to 100 ms here, so
// a change published again would be stored again, not dropped as a duplicate.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Engine } from "../engine/engine.ts";
import { BUCKET_TIER_MARKS, type Order, partitionOf, STREAM_TIER_EVENTS } from "../proto/index.ts";
import { type Client, client, eventually, memberViaService, publishOrders, readTierChanges, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

const P = 64;
const T = Date.now() - 60_000;
const MEMBERS = Array.from({ length: 24 }, (_, i) => 1001 + i * 7);
/** Every member's score after each round: each round crosses a threshold of the default ladder (200, 500, 1000, 2500, 6000). */
const SCORE_AFTER_ROUND = [300, 600, 1200, 3000, 7000];

const paid = (id: string, member: number, amount: number): Order => ({ id, member, line: "taobao", kind: "paid", amount, ts: T });

interface MarkValue {
  state: string;
  seq: number;
  pos: string;
}

describe("tier marks", () => {
  const nats = useNatsServer();
  // Nested, so that this block's afterAll runs while nats-server is still up.
  describe("against a real nats-server", () => {
    let c: Client;
    let jsm: JetStreamManager;
    let kv: KV;
    let engine: Engine | null = null;
    let round = 0;

    beforeAll(async () => {
      c = await client(nats.url);
      jsm = await jetstreamManager(c.nc);
      const info = await jsm.streams.info(STREAM_TIER_EVENTS);
      await jsm.streams.update(STREAM_TIER_EVENTS, { ...info.config, duplicate_window: 100_000_000 });
    });
    afterAll(async () => {
      await engine?.stop();
      await c.close();
    });

    const markOf = async (p: number): Promise<MarkValue | null> => {
      const e = await kv.get(String(p));
      return e && e.operation === "PUT" ? (e.json() as MarkValue) : null;
    };

    /** Every member pays up to the round's score (one tier change each), and the engine applied it. */
    const payRound = async (): Promise<void> => {
      const score = SCORE_AFTER_ROUND[round];
      const points = score - (round === 0 ? 0 : SCORE_AFTER_ROUND[round - 1]);
      round++;
      await publishOrders(c.js, MEMBERS.map((m) => paid(`r${round}-${m}`, m, points * 100)), P);
      await eventually(async () => (await Promise.all(MEMBERS.map((m) => memberViaService(c.nc, m)))).every((v) => v.score === score), `round ${round} applied`);
    };

    /** The changes stored per partition, in order; each (member, cause) once. */
    const storedChanges = async () => {
      const changes = await readTierChanges(c.nc);
      const keys = changes.map((ch) => `${ch.member}/${ch.cause}/${ch.to}`);
      expect(new Set(keys).size).toBe(keys.length);
      return changes;
    };

    const recoveredBy = (e: Engine) => {
      const by: Record<string, number[]> = {};
      for (const [p, r] of e.runners) (by[r.tierRecoveredBy ?? "none"] ??= []).push(p);
      return by;
    };

    test("a clean stop closes every mark at the partition's last stored change; the next start trusts them and publishes nothing again", async () => {
      engine = await startEngine(nats.url);
      kv = await new Kvm(c.js).open(BUCKET_TIER_MARKS);
      await payRound();
      await payRound();
      const before = await storedChanges();
      expect(before.length).toBeGreaterThanOrEqual(MEMBERS.length);
      // While an engine runs, its marks are open: a crash now must not leave a trusted mark.
      for (const p of [0, partitionOf(MEMBERS[0], P)]) expect((await markOf(p))?.state).toBe("open");
      await engine.stop();
      engine = null;

      const lastSeq = new Map<number, { seq: number; msgId: string }>();
      for (const ch of before) lastSeq.set(Number(ch.subject.split(".")[1]), { seq: ch.seq, msgId: ch.msgId });
      for (let p = 0; p < P; p++) {
        const mark = await markOf(p);
        const last = lastSeq.get(p);
        // msgId t.<p>.<orderSeq>.<k> carries the position the mark must name.
        expect(mark).toEqual(last ? { state: "closed", seq: last.seq, pos: last.msgId.split(".").slice(2).join(".") } : { state: "closed", seq: 0, pos: "0.-1" });
      }

      await Bun.sleep(200); // past the duplicate window
      engine = await startEngine(nats.url);
      expect(recoveredBy(engine)).toEqual({ mark: [...Array(P).keys()] });
      expect(await storedChanges()).toEqual(before);
      await payRound();
      const after = await storedChanges();
      expect(after.slice(0, before.length)).toEqual(before);
      expect(after.length).toBeGreaterThan(before.length);
    }, 60_000);

    test("an open mark, a mark at the wrong position and a mark of a missing message are not trusted: those partitions search, and nothing is published twice", async () => {
      await engine!.stop();
      engine = null;
      const changes = await storedChanges();
      const withChanges = [...new Set(changes.map((ch) => Number(ch.subject.split(".")[1])))];
      expect(withChanges.length).toBeGreaterThanOrEqual(3);
      const [pOpen, pWrong, pMissing] = withChanges;
      const lastOf = (p: number) => changes.filter((ch) => ch.subject.startsWith(`tier.${p}.`)).at(-1)!;
      const put = (p: number, v: MarkValue) => kv.put(String(p), JSON.stringify(v));
      const closedOpen = await markOf(pOpen);
      await put(pOpen, { ...closedOpen!, state: "open" });
      // The right message, the wrong position: trusted, it would publish this partition's changes again.
      await put(pWrong, { state: "closed", seq: lastOf(pWrong).seq, pos: "1.0" });
      await put(pMissing, { state: "closed", seq: 999_999_999, pos: "5.0" });

      await Bun.sleep(200);
      engine = await startEngine(nats.url);
      const by = recoveredBy(engine);
      expect(by.search).toEqual([pOpen, pWrong, pMissing].sort((a, b) => a - b));
      expect(by.mark.length).toBe(P - 3);
      expect(await storedChanges()).toEqual(changes);
      await payRound();
      const after = await storedChanges();
      expect(after.slice(0, changes.length)).toEqual(changes);
    }, 60_000);

    test("a fenced partition leaves its mark open, and its next start searches", async () => {
      const p = partitionOf(MEMBERS[0], P);
      engine!.fencePartition(p);
      await engine!.stop();
      engine = null;
      expect((await markOf(p))?.state).toBe("open");
      expect((await markOf(partitionOf(MEMBERS[1], P) === p ? partitionOf(MEMBERS[2], P) : partitionOf(MEMBERS[1], P)))?.state).toBe("closed");
      const changes = await storedChanges();
      await Bun.sleep(200);
      engine = await startEngine(nats.url);
      expect(recoveredBy(engine).search).toEqual([p]);
      expect(await storedChanges()).toEqual(changes);
    }, 60_000);
  });
});
