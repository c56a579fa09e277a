// verify: recompute every member from the ORDERS log with the reference rules (the oracle in
// test/reference — plain Maps, written straight from engine/README.md, sharing no code with
// the engine's state) and compare it with what the engines answer and with TIER_EVENTS.
//
// It reads each partition's log up to the last sequence present when it starts. Run it on a
// quiet stream for an exact answer; on a live one, orders after that cut show as differences.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Config } from "../engine/config.ts";
import {
  decodeRawItems,
  memberRequestSubject,
  ordersSubject,
  STREAM_ORDERS,
  STREAM_TIER_EVENTS,
  tierPartitionFilter,
} from "../proto/index.ts";
import { readSubject } from "../proto/read-subject.ts";
import { type RefChange, ReferencePartition } from "../test/reference/reference.ts";

const MEMBER_REQUESTS_IN_FLIGHT = 256;
const REQUEST_TIMEOUT_MS = 5000;

export interface Difference {
  partition: number;
  member?: number;
  what: string;
}

export interface VerifyReport {
  partitions: number;
  orderMessages: number;
  members: number;
  tierChangesExpected: number;
  tierChangesStored: number;
  differences: Difference[];
}

const textDecoder = new TextDecoder();
const changeKey = (c: Omit<RefChange, "seq">) => JSON.stringify([c.member, c.from, c.to, c.score, c.ts, c.cause]);

export async function verify(nc: NatsConnection, config: Config, partitions: number[]): Promise<VerifyReport> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const ordersLast = (await jsm.streams.info(STREAM_ORDERS)).state.last_seq;
  const tiersLast = (await jsm.streams.info(STREAM_TIER_EVENTS)).state.last_seq;
  const report: VerifyReport = {
    partitions: partitions.length,
    orderMessages: 0,
    members: 0,
    tierChangesExpected: 0,
    tierChangesStored: 0,
    differences: [],
  };
  for (const p of partitions) {
    const ref = new ReferencePartition(config, p);
    const expected: RefChange[] = [];
    for await (const m of readSubject(js, STREAM_ORDERS, ordersSubject(p), ordersLast)) {
      report.orderMessages++;
      let items: unknown[];
      try {
        items = decodeRawItems(m.data);
      } catch {
        continue; // a whole-message fault: dead-lettered, no effect on state
      }
      const storedMs = Math.floor(m.timestampNanos / 1e6);
      expected.push(...ref.apply({ seq: m.seq, storedMs, items }).changes);
    }
    report.tierChangesExpected += expected.length;

    // TIER_EVENTS: each expected change exactly once, in order, and nothing else.
    const stored: string[] = [];
    for await (const m of readSubject(js, STREAM_TIER_EVENTS, tierPartitionFilter(p), tiersLast)) {
      stored.push(changeKey(JSON.parse(textDecoder.decode(m.data)) as RefChange));
    }
    report.tierChangesStored += stored.length;
    const want = expected.map(changeKey);
    const counts = new Map<string, number>();
    for (const k of stored) counts.set(k, (counts.get(k) ?? 0) + 1);
    for (const k of want) {
      const n = counts.get(k) ?? 0;
      if (n === 0) report.differences.push({ partition: p, what: `tier change missing from TIER_EVENTS: ${k}` });
      else counts.set(k, n - 1);
    }
    for (const [k, n] of counts) {
      for (let i = 0; i < n; i++) report.differences.push({ partition: p, what: `tier change in TIER_EVENTS not in the log's rules (extra or doubled): ${k}` });
    }

    // The engine's member views.
    const members = ref.members();
    report.members += members.length;
    for (let i = 0; i < members.length; i += MEMBER_REQUESTS_IN_FLIGHT) {
      await Promise.all(
        members.slice(i, i + MEMBER_REQUESTS_IN_FLIGHT).map(async (want) => {
          let got: { score: number; tier: string; lines: Record<string, number> };
          try {
            const r = await nc.request(memberRequestSubject(p), JSON.stringify({ member: want.member }), { timeout: REQUEST_TIMEOUT_MS });
            got = r.json();
          } catch (err) {
            report.differences.push({ partition: p, member: want.member, what: `no engine answered: ${(err as Error).message}` });
            return;
          }
          if (got.score !== want.score || got.tier !== want.tier || JSON.stringify(sorted(got.lines)) !== JSON.stringify(sorted(want.lines))) {
            report.differences.push({
              partition: p,
              member: want.member,
              what: `engine has score ${got.score} ${got.tier} ${JSON.stringify(got.lines)}, the log says ${want.score} ${want.tier} ${JSON.stringify(want.lines)}`,
            });
          }
        }),
      );
    }
  }
  return report;
}

function sorted(r: Record<string, number>): [string, number][] {
  return Object.entries(r).sort(([a], [b]) => a.localeCompare(b));
}
