// The member cache's rules, notice by notice (gateway/member-cache.ts): a view stamped with the
// followed run stays until a notice lists its member after its seq; anything the chain cannot
// vouch for drops the partition. The end-to-end version is test/gateway.view-notices.test.ts.

import { describe, expect, test } from "bun:test";
import { MemberCache } from "../gateway/member-cache.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { NOTICE_HEAD_FLOATS, NOTICE_SILENCE_MS, readNotices, type ViewNotice, writeNotice } from "../proto/view-notice.ts";

const P = 4;
const RUN = 77;
const TTL_MS = 250;
const MAX_AGE_MS = 60_000;

/** Notices as they come off the wire: written into one message, read back. */
function message(...notices: [p: number, run: number, from: number, to: number, members?: number[], all?: boolean][]): Uint8Array {
  const floats = 1 + notices.reduce((n, [, , , , m = []]) => n + NOTICE_HEAD_FLOATS + m.length, 0);
  const out = new Float64Array(floats);
  out[0] = notices.length;
  let at = 1;
  for (const [p, run, from, to, members = [], all = false] of notices) at = writeNotice(out, at, p, run, from, to, all, Float64Array.from(members), members.length);
  return new Uint8Array(out.buffer);
}

function read(bytes: Uint8Array): ViewNotice[] {
  const got: ViewNotice[] = [];
  const bad = readNotices(bytes, (n) => got.push({ ...n, member: ((ms) => (i: number) => ms[i])(Array.from({ length: n.count }, (_, i) => n.member(i))) }));
  if (bad !== null) throw new Error(bad);
  return got;
}

function notice(p: number, run: number, from: number, to: number, members: number[] = [], all = false): ViewNotice {
  return read(message([p, run, from, to, members, all]))[0];
}

function setup() {
  let now = 1000;
  const metrics = new GatewayMetrics();
  const cache = new MemberCache(P, 100, TTL_MS, MAX_AGE_MS, metrics, () => now);
  const drops = async (reason: string) => (await metrics.memberCacheDrops.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  return { cache, drops, advance: (ms: number) => (now += ms) };
}

describe("view notices on the wire", () => {
  test("round-trip: several partitions' notices in one message, with run, range, flags and members", () => {
    const [a, b] = read(message([3, 12345, 10, 20, [7, 2 ** 42 + 1, 9]], [0, 1, 5, 5, [], true]));
    expect([a.partition, a.run, a.from, a.to, a.all, a.count]).toEqual([3, 12345, 10, 20, false, 3]);
    expect([a.member(0), a.member(1), a.member(2)]).toEqual([7, 2 ** 42 + 1, 9]);
    expect([b.partition, b.all, b.count]).toEqual([0, true, 0]);
  });

  test("bad messages are refused with a reason; the notices before the bad one are read", () => {
    expect(readNotices(new Uint8Array(12), () => {})).toContain("8 × n bytes");
    const good = message([1, 1, 0, 3, [5]]);
    const truncated = good.slice(0, good.length - 8);
    expect(readNotices(truncated, () => {})).toContain("bad member count");
    const backwards = message([1, 1, 9, 3]);
    expect(readNotices(backwards, () => {})).toContain("0 ≤ from ≤ to");
    const twoThenBad = message([1, 1, 0, 3, [5]], [2, 1, 0, 4], [3, 1, 9, 3]);
    const seen: number[] = [];
    expect(readNotices(twoThenBad, (n) => seen.push(n.partition))).toContain("notice 2");
    expect(seen).toEqual([1, 2]);
    const extra = new Uint8Array(good.length + 8);
    extra.set(good);
    expect(readNotices(extra, () => {})).toContain("after the last notice");
  });
});

describe("MemberCache", () => {
  test("a followed view stays until a notice lists its member after its seq", () => {
    const { cache, advance } = setup();
    cache.notice(notice(1, RUN, 0, 10));
    cache.set(5, 1, ["v5@12", RUN, 12]);
    advance(TTL_MS * 10); // far past the plain TTL: the chain vouches for it
    cache.notice(notice(1, RUN, 10, 12, [5])); // the change the view already shows
    expect(cache.get(5)).toBe("v5@12");
    cache.notice(notice(1, RUN, 12, 15, [6])); // another member
    expect(cache.get(5)).toBe("v5@12");
    cache.notice(notice(1, RUN, 15, 16, [5])); // a later change of this member
    expect(cache.get(5)).toBeUndefined();
  });

  test("a view older than the notices already heard is answered, not kept", () => {
    const { cache } = setup();
    cache.notice(notice(1, RUN, 0, 10));
    cache.notice(notice(1, RUN, 10, 20, [5]));
    expect(cache.set(5, 1, ["v5@15", RUN, 15])).toBe("v5@15");
    expect(cache.get(5)).toBeUndefined();
    cache.set(5, 1, ["v5@20", RUN, 20]);
    expect(cache.get(5)).toBe("v5@20");
  });

  test("a missing notice drops every view of its partition, and only of it", async () => {
    const { cache, drops } = setup();
    cache.notice(notice(1, RUN, 0, 10));
    cache.notice(notice(2, RUN, 0, 10));
    cache.set(5, 1, ["a", RUN, 10]);
    cache.set(6, 2, ["b", RUN, 10]);
    cache.notice(notice(1, RUN, 11, 12)); // 10 → 11 was never heard
    expect(cache.get(5)).toBeUndefined();
    expect(cache.get(6)).toBe("b");
    expect(await drops("gap")).toBe(1);
    // The chain goes on from the notice that showed the gap.
    cache.set(5, 1, ["a2", RUN, 12]);
    cache.notice(notice(1, RUN, 12, 13, [9]));
    expect(cache.get(5)).toBe("a2");
  });

  test("a new run, a month start (all) and silence each drop the partition's views", async () => {
    const { cache, drops, advance } = setup();
    cache.notice(notice(1, RUN, 0, 10));
    cache.set(5, 1, ["a", RUN, 10]);
    cache.notice(notice(1, RUN + 1, 0, 0)); // a takeover replays from the start
    expect(cache.get(5)).toBeUndefined();
    expect(await drops("run")).toBe(1);

    cache.set(5, 1, ["b", RUN + 1, 3]);
    expect(cache.get(5)).toBe("b");
    cache.notice(notice(1, RUN + 1, 0, 4, [], true));
    expect(cache.get(5)).toBeUndefined();

    cache.set(5, 1, ["c", RUN + 1, 4]);
    advance(NOTICE_SILENCE_MS - 1);
    cache.sweep();
    expect(cache.get(5)).toBe("c");
    advance(2);
    cache.sweep();
    expect(cache.get(5)).toBeUndefined();
    expect(await drops("silence")).toBe(1);
    expect(Number.isNaN(cache.followedRun(1))).toBe(true);
  });

  test("a reconnect drops everything; unfollowed views live for the plain TTL", async () => {
    const { cache, drops, advance } = setup();
    cache.notice(notice(1, RUN, 0, 10));
    cache.set(5, 1, ["a", RUN, 10]);
    cache.reset();
    expect(cache.get(5)).toBeUndefined();
    expect(await drops("reconnect")).toBe(1);
    // No chain followed now: the stamp cannot be vouched for, so the TTL rules.
    cache.set(5, 1, ["b", RUN, 10]);
    cache.set(6, 1, ["unstamped", -1, -1]);
    expect(cache.get(5)).toBe("b");
    expect(cache.get(6)).toBe("unstamped");
    // lru-cache reads its own clock for TTLs: wait it out for real.
    await Bun.sleep(TTL_MS + 20);
    advance(TTL_MS + 20);
    expect(cache.get(5)).toBeUndefined();
    expect(cache.get(6)).toBeUndefined();
  });

  test("an unfollowed view is dropped by any notice that lists its member", () => {
    const { cache } = setup();
    cache.notice(notice(1, RUN, 0, 10));
    cache.set(5, 1, ["endpoint view", -1, -1]);
    cache.notice(notice(1, RUN, 10, 11, [5]));
    expect(cache.get(5)).toBeUndefined();
  });
});
