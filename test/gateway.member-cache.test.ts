// The member cache's rules, notice by notice (gateway/member-cache.ts): a view stamped with the
// followed run stays until a notice lists its member after its seq; anything the chain cannot
// vouch for drops the partition. The end-to-end version is test/gateway.view-notices.test.ts.

import { describe, expect, test } from "bun:test";
import { MemberCache } from "../gateway/member-cache.ts";
import { GatewayMetrics } from "../gateway/metrics.ts";
import { decodeNotice, encodeNotice, NOTICE_HEADER_BYTES, NOTICE_SILENCE_MS, noticeSubject, type ViewNotice } from "../proto/view-notice.ts";

const P = 4;
const RUN = 77;
const TTL_MS = 250;
const MAX_AGE_MS = 60_000;

function notice(p: number, run: number, from: number, to: number, members: number[] = [], all = false): ViewNotice {
  const bytes = new Uint8Array(NOTICE_HEADER_BYTES + members.length * 8);
  encodeNotice(new DataView(bytes.buffer), run, from, to, all, Float64Array.from(members), members.length);
  const n = decodeNotice(noticeSubject(p), bytes);
  if (typeof n === "string") throw new Error(n);
  return n;
}

function setup() {
  let now = 1000;
  const metrics = new GatewayMetrics();
  const cache = new MemberCache(P, 100, TTL_MS, MAX_AGE_MS, metrics, () => now);
  const drops = async (reason: string) => (await metrics.memberCacheDrops.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
  return { cache, drops, advance: (ms: number) => (now += ms) };
}

describe("view notices on the wire", () => {
  test("round-trip: run, range, flags and members", () => {
    const n = notice(3, 12345, 10, 20, [7, 2 ** 42 + 1, 9]);
    expect([n.partition, n.run, n.from, n.to, n.all, n.count]).toEqual([3, 12345, 10, 20, false, 3]);
    expect([n.member(0), n.member(1), n.member(2)]).toEqual([7, 2 ** 42 + 1, 9]);
    expect(notice(0, 1, 5, 5, [], true).all).toBe(true);
  });

  test("bad notices are refused with a reason", () => {
    expect(decodeNotice("tierstream.changed.x", new Uint8Array(32))).toContain("no partition");
    expect(decodeNotice("tierstream.changed.1", new Uint8Array(31))).toContain("32 + 8 × n bytes");
    const backwards = new Uint8Array(32);
    encodeNotice(new DataView(backwards.buffer), 1, 9, 3, false, new Float64Array(0), 0);
    expect(decodeNotice("tierstream.changed.1", backwards)).toContain("0 ≤ from ≤ to");
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
