// The balanced target (pure): even shares, the same answer everywhere, few moves when
// membership changes.

import { describe, expect, test } from "bun:test";
import { assign, targetOf } from "../engine/ownership/balancer.ts";

const ids = (n: number) => Array.from({ length: n }, (_, i) => `engine-${String(i).padStart(2, "0")}`).sort();

describe("assign", () => {
  test("gives every member ⌊P/n⌋ or ⌈P/n⌉ partitions, every partition one member", () => {
    for (const partitions of [1, 7, 64, 256]) {
      for (let n = 1; n <= 12; n++) {
        const owner = assign(ids(n), partitions);
        const counts = new Array(n).fill(0);
        for (const o of owner) counts[o]++;
        expect(Math.min(...counts)).toBe(Math.floor(partitions / n));
        expect(Math.max(...counts)).toBe(Math.ceil(partitions / n));
        expect(counts.reduce((a, b) => a + b, 0)).toBe(partitions);
      }
    }
    expect([...assign([], 4)]).toEqual([-1, -1, -1, -1]);
  });

  test("64 over three members is 22/21/21, and targetOf agrees with assign", () => {
    const members = ["a-1", "b-2", "c-3"];
    const sizes = members.map((m) => targetOf(members, 64, m).length);
    expect(sizes).toEqual([22, 21, 21]);
    const all = members.flatMap((m) => targetOf(members, 64, m)).sort((x, y) => x - y);
    expect(all).toEqual([...Array(64).keys()]);
    expect(targetOf(members, 64, "not-a-member")).toEqual([]);
  });

  test("is deterministic and refuses unsorted members", () => {
    expect([...assign(ids(5), 64)]).toEqual([...assign(ids(5), 64)]);
    expect(() => assign(["b", "a"], 4)).toThrow(/sorted/);
  });

  test("a member leaving or joining moves little more than its own share", () => {
    const partitions = 64;
    for (let n = 2; n <= 8; n++) {
      const before = ids(n);
      const owners = (members: string[]) => [...assign(members, partitions)].map((i) => members[i]);
      const a = owners(before);
      const left = before.filter((_, i) => i !== 1);
      const b = owners(left);
      const moved = a.filter((o, p) => o !== b[p]).length;
      const share = Math.ceil(partitions / n);
      // Its own share must move; rendezvous with bounded loads moves a bit more, p mod n ~all.
      expect(moved).toBeGreaterThanOrEqual(share - 1);
      expect(moved).toBeLessThanOrEqual(2 * share + 2);
    }
  });
});
