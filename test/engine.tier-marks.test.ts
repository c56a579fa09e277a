// Tier marks (engine/tier-marks.ts): each partition's stored prefix in TIER_MARKS. A clean stop
// closes it at the last stored change; a running partition's open mark follows its prefix; the
// next start reads the mark and what TIER_EVENTS holds after it instead of searching the
// stream; a mark that cannot be trusted (wrong, of an earlier stream, pointing at a message
// that is gone, an open one of the format before scanFrom) means the search, as before.
// Whichever way a runner found its place, nothing is published twice: TIER_EVENTS's duplicate
// window is shortened to 100 ms here, so a change published again would be stored again, not
// dropped as a duplicate. And a change lost in flight before a crash is published on restart.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Engine } from "../engine/engine.ts";
import { BUCKET_TIER_MARKS, dlqSubject, encodeOrders, type Order, ordersSubject, partitionOf, STREAM_ORDERS_DLQ, STREAM_TIER_EVENTS } from "../proto/index.ts";
import { type Client, client, eventually, memberViaService, publishOrders, readTierChanges, startEngine } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

const P = 64;
const T = Date.now() - 60_000;
const MEMBERS = Array.from({ length: 24 }, (_, i) => 1001 + i * 7);
/** Every member's score after each round: each round crosses a threshold of the default ladder (200, 500, 1000, 2500, 6000). */
const SCORE_AFTER_ROUND = [300, 600, 1200, 3000, 7000, 7300];

const paid = (id: string, member: number, amount: number): Order => ({ id, member, line: "taobao", kind: "paid", amount, ts: T });

/** Rounds of payments: each call pays every member up to the next round's score (one tier change each) and waits until the engine applied it. */
function rounds(client: () => Client, members: readonly number[], idPrefix: string): () => Promise<void> {
  let round = 0;
  return async () => {
    const c = client();
    const score = SCORE_AFTER_ROUND[round];
    const points = score - (round === 0 ? 0 : SCORE_AFTER_ROUND[round - 1]);
    round++;
    await publishOrders(c.js, members.map((m) => paid(`${idPrefix}${round}-${m}`, m, points * 100)), P);
    await eventually(async () => (await Promise.all(members.map((m) => memberViaService(c.nc, m)))).every((v) => v.score === score), `round ${round} applied`);
  };
}

/** Partition p's tier mark (or the mark under `key`) as stored, or null. */
async function markIn(kv: KV, p: number, key = String(p)): Promise<MarkValue | null> {
  const e = await kv.get(key);
  return e && e.operation === "PUT" ? (e.json() as MarkValue) : null;
}

interface MarkValue {
  state: string;
  seq: number;
  pos: string;
  scanFrom?: number;
  stream: string;
}

describe("tier marks", () => {
  const nats = useNatsServer();
  // Nested, so that this block's afterAll runs while nats-server is still up.
  describe("against a real nats-server", () => {
    let c: Client;
    let jsm: JetStreamManager;
    let kv: KV;
    let engine: Engine | null = null;

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

    const markOf = (p: number) => markIn(kv, p);
    const payRound = rounds(() => c, MEMBERS, "r");

    /** The changes stored per partition, in order; each (member, cause) once. */
    const storedChanges = async () => {
      const changes = await readTierChanges(c.nc);
      const keys = changes.map((ch) => `${ch.member}/${ch.cause}/${ch.to}`);
      expect(new Set(keys).size).toBe(keys.length);
      return changes;
    };

    /** The position in a tier change's msgId t.<p>.<orderSeq>.<k>. */
    const posOf = (msgId: string) => msgId.split(".").slice(2).join(".");

    /** TIER_EVENTS still holds exactly `before`, and after one more round it starts with it: nothing was published twice. Returns the new changes. */
    const expectNothingTwice = async (before: Awaited<ReturnType<typeof storedChanges>>) => {
      expect(await storedChanges()).toEqual(before);
      await payRound();
      const after = await storedChanges();
      expect(after.slice(0, before.length)).toEqual(before);
      return after;
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
        expect(mark).toMatchObject(last ? { state: "closed", seq: last.seq, pos: posOf(last.msgId) } : { state: "closed", seq: 0, pos: "0.-1" });
      }

      await Bun.sleep(200); // past the duplicate window
      engine = await startEngine(nats.url);
      expect(recoveredBy(engine)).toEqual({ mark: [...Array(P).keys()] });
      const after = await expectNothingTwice(before);
      expect(after.length).toBeGreaterThan(before.length);
    }, 60_000);

    test("a mark at the wrong position, of a missing message or of an earlier TIER_EVENTS is not trusted: those partitions search, and nothing is published twice", async () => {
      await engine!.stop();
      engine = null;
      const changes = await storedChanges();
      const withChanges = [...new Set(changes.map((ch) => Number(ch.subject.split(".")[1])))];
      expect(withChanges.length).toBeGreaterThanOrEqual(3);
      const [pWrong, pMissing, pOtherStream] = withChanges;
      const lastOf = (p: number) => changes.filter((ch) => ch.subject.startsWith(`tier.${p}.`)).at(-1)!;
      const put = (p: number, v: MarkValue) => kv.put(String(p), JSON.stringify(v));
      const { stream } = (await markOf(pWrong))!;
      // The right message, the wrong position: trusted, it would publish this partition's changes again.
      await put(pWrong, { state: "closed", seq: lastOf(pWrong).seq, pos: "1.0", stream });
      await put(pMissing, { state: "closed", seq: 999_999_999, pos: "5.0", stream });
      const last = lastOf(pOtherStream);
      await put(pOtherStream, { state: "closed", seq: last.seq, pos: posOf(last.msgId), stream: "2020-01-01T00:00:00Z" });

      await Bun.sleep(200);
      engine = await startEngine(nats.url);
      const by = recoveredBy(engine);
      expect(by.search).toEqual([pWrong, pMissing, pOtherStream].sort((a, b) => a - b));
      expect(by.mark.length).toBe(P - 3);
      await expectNothingTwice(changes);
    }, 60_000);

    test("a partition that did not stop cleanly (fenced) leaves its mark open; one written before marks had scanFrom is not read: the next start searches and publishes nothing twice", async () => {
      const p = partitionOf(MEMBERS[0], P);
      await payRound();
      engine!.fencePartition(p);
      await engine!.stop();
      engine = null;
      const mark = (await markOf(p))!;
      expect(mark.state).toBe("open");
      const other = MEMBERS.map((m) => partitionOf(m, P)).find((q) => q !== p)!;
      expect((await markOf(other))?.state).toBe("closed");
      // An open mark without scanFrom (the format before it) names only the newest change, which
      // need not be a prefix (a change lost in flight may sit before it): not read.
      const changes = await storedChanges();
      const newest = changes.filter((ch) => ch.subject.startsWith(`tier.${p}.`)).at(-1)!;
      await kv.put(String(p), JSON.stringify({ state: "open", seq: newest.seq, pos: posOf(newest.msgId), stream: mark.stream }));

      await Bun.sleep(200);
      engine = await startEngine(nats.url);
      expect(recoveredBy(engine).search).toEqual([p]);
      expect(engine.runners.get(p)!.tierSeq).toBe(newest.seq);
      await expectNothingTwice(changes);
    }, 60_000);

    test("a TIER_MARKS bucket deleted under a running engine is created again when a partition starts there", async () => {
      const p = partitionOf(MEMBERS[3], P);
      const before = await storedChanges();
      await engine!.removePartition(p);
      expect(await kv.destroy()).toBe(true);
      await Bun.sleep(200); // past the duplicate window
      await engine!.addPartition(p);
      kv = await new Kvm(c.js).open(BUCKET_TIER_MARKS);
      expect((await markOf(p))?.state).toBe("open");
      expect(engine!.runners.get(p)!.tierRecoveredBy).toBe("search");
      expect(await storedChanges()).toEqual(before);
    }, 60_000);
  });
});

describe("stored prefixes", () => {
  const nats = useNatsServer();
  describe("against a real nats-server", () => {
    let c: Client;
    let jsm: JetStreamManager;
    let engine: Engine | null = null;
    const members = Array.from({ length: 16 }, (_, i) => 5003 + i * 11);

    beforeAll(async () => {
      c = await client(nats.url);
      jsm = await jetstreamManager(c.nc);
      const info = await jsm.streams.info(STREAM_TIER_EVENTS);
      await jsm.streams.update(STREAM_TIER_EVENTS, { ...info.config, duplicate_window: 100_000_000 });
      const dlq = await jsm.streams.info(STREAM_ORDERS_DLQ);
      await jsm.streams.update(STREAM_ORDERS_DLQ, { ...dlq.config, duplicate_window: 100_000_000 });
      engine = await startEngine(nats.url);
    });
    afterAll(async () => {
      await engine?.stop();
      await c.close();
    });

    const kvOf = () => new Kvm(c.js).open(BUCKET_TIER_MARKS);
    const markOf = async (p: number) => markIn(await kvOf(), p);
    const payRound = rounds(() => c, members, "s");
    const ofPartition = async (p: number) => {
      const changes = await readTierChanges(c.nc, `tier.${p}.>`);
      const keys = changes.map((ch) => ch.msgId);
      expect(new Set(keys).size).toBe(keys.length); // nothing stored twice
      return changes;
    };
    const posOf = (msgId: string) => msgId.split(".").slice(2).join(".");
    const p = partitionOf(members[0], P);

    test("a running partition's mark follows its stored prefix; a start after a crash reads it, not the stream, and publishes nothing twice", async () => {
      await payRound();
      await payRound();
      const stored = await ofPartition(p);
      const newest = stored.at(-1)!;
      await eventually(async () => (await markOf(p))?.seq === newest.seq, "the open mark at the newest change", 5000);
      // Nothing in flight: scanFrom is just past the stream's end, so a start after a crash
      // learns from one stream info that nothing of p lies after the mark.
      const last = (await jsm.streams.info(STREAM_TIER_EVENTS)).state.last_seq;
      await eventually(async () => (await markOf(p))?.scanFrom === last + 1, "scanFrom past the stream's end", 5000);
      expect(await markOf(p)).toMatchObject({ state: "open", seq: newest.seq, pos: posOf(newest.msgId) });

      engine!.fencePartition(p); // a crash, as far as p is concerned: no clean stop
      await engine!.stop();
      expect((await markOf(p))?.state).toBe("open");
      await Bun.sleep(200); // past the duplicate window
      engine = await startEngine(nats.url);
      expect(engine.runners.get(p)!.tierRecoveredBy).toBe("mark");
      expect(await ofPartition(p)).toEqual(stored);
      await payRound();
      expect((await ofPartition(p)).slice(0, stored.length)).toEqual(stored);
    }, 60_000);

    test("a change lost in flight before a crash is published on the next start, and the changes stored after it are not published again", async () => {
      await payRound();
      const stored = await ofPartition(p);
      expect(stored.length).toBeGreaterThanOrEqual(3);
      engine!.fencePartition(p);
      await engine!.stop();
      engine = null;
      // What a crash after a NATS disconnect can leave: the middle change never stored, later
      // ones stored, and a mark whose prefix ends before the lost one (prefixes only pass
      // stored changes). Here: the prefix is nothing, every change of p at seq ≥ 1.
      const lost = stored[1];
      expect(await jsm.streams.deleteMessage(STREAM_TIER_EVENTS, lost.seq)).toBe(true);
      const stream = (await markOf(p))!.stream;
      await (await kvOf()).put(String(p), JSON.stringify({ state: "open", seq: 0, pos: "0.-1", scanFrom: 1, stream }));
      await Bun.sleep(200); // past the duplicate window: a change published again is stored again

      engine = await startEngine(nats.url);
      expect(engine.runners.get(p)!.tierRecoveredBy).toBe("mark");
      await eventually(async () => (await ofPartition(p)).length === stored.length, "the lost change stored again", 5000);
      const after = await ofPartition(p);
      const kept = stored.filter((ch) => ch !== lost);
      expect(after.slice(0, kept.length)).toEqual(kept); // untouched, in place
      const again = after.at(-1)!;
      expect({ ...again, seq: lost.seq }).toEqual(lost); // the same change, at a new place
      expect(again.seq).toBeGreaterThan(stored.at(-1)!.seq);
      // Its prefix now runs past every change: the mark follows.
      await eventually(async () => (await markOf(p))?.seq === again.seq || (await markOf(p))?.seq === stored.at(-1)!.seq, "the mark past the lost change", 5000);
    }, 60_000);

    test("dead letters too: one lost in flight before a crash is published on the next start, the others not again", async () => {
      const dlqOf = async () => {
        const out: { seq: number; msgId: string; reason: string }[] = [];
        const last = (await jsm.streams.info(STREAM_ORDERS_DLQ)).state.last_seq;
        for (let seq = 1; seq <= last; seq++) {
          const m = await jsm.streams.getMessage(STREAM_ORDERS_DLQ, { seq }).catch(() => null);
          if (m?.subject === dlqSubject(p)) out.push({ seq: m.seq, msgId: m.header.get("Nats-Msg-Id"), reason: m.header.get("Tierstream-Reason") });
        }
        expect(new Set(out.map((d) => d.msgId)).size).toBe(out.length); // nothing stored twice
        return out;
      };
      // Three messages with a bad item each: three dead letters of p, one message after another.
      for (const id of ["bad-1", "bad-2", "bad-3"]) {
        await c.js.publish(ordersSubject(p), encodeOrders([{ ...paid(id, members[0], 100), line: "nope" }]));
      }
      await eventually(async () => (await dlqOf()).length === 3, "three dead letters", 5000);
      const stored = await dlqOf();
      await eventually(async () => (await markIn(await kvOf(), Number.NaN, `dlq.${p}`))?.seq === stored[2].seq, "the dead-letter mark at the newest", 5000);
      engine!.fencePartition(p);
      await engine!.stop();
      engine = null;
      const lost = stored[1];
      expect(await jsm.streams.deleteMessage(STREAM_ORDERS_DLQ, lost.seq)).toBe(true);
      const stream = (await markIn(await kvOf(), Number.NaN, `dlq.${p}`))!.stream;
      await (await kvOf()).put(`dlq.${p}`, JSON.stringify({ state: "open", seq: 0, pos: "0.-1", scanFrom: 1, stream }));
      await Bun.sleep(200); // past the duplicate window of this test's streams
      engine = await startEngine(nats.url);
      await eventually(async () => (await dlqOf()).length === 3, "the lost dead letter stored again", 5000);
      const after = await dlqOf();
      expect(after.slice(0, 2)).toEqual([stored[0], stored[2]]);
      expect({ ...after[2], seq: lost.seq }).toEqual(lost);
    }, 60_000);
  });
});

