// StoredPrefix (engine/stored-prefix.ts): the prefix passes only stored changes, and scanFrom
// never rises above a change stored after the prefix, whatever order changes are stored in.

import { describe, expect, test } from "bun:test";
import { StoredPrefix } from "../engine/stored-prefix.ts";

describe("StoredPrefix", () => {
  test("changes stored in order move the prefix; scanFrom is just past it", () => {
    const s = new StoredPrefix({ pos: [5, 0], seq: 40 }, 41);
    const a = s.add(6, 0);
    const b = s.add(6, 1);
    expect(s.prefix).toEqual({ pos: [5, 0], seq: 40 });
    s.stored(a, 41);
    s.stored(b, 42);
    expect(s.prefix).toEqual({ pos: [6, 1], seq: 42 });
    expect(s.scanFrom).toBe(43);
    expect(s.after).toBe(0);
  });

  test("a change stored after a later one: the prefix waits for it, scanFrom stays at the later one's seq", () => {
    const s = new StoredPrefix({ pos: [0, -1], seq: 0 }, 1);
    const lost = s.add(7, 0);
    const later = s.add(8, 0);
    s.stored(later, 10); // stored first; `lost` is in flight again
    expect(s.prefix).toEqual({ pos: [0, -1], seq: 0 });
    expect(s.scanFrom).toBe(1);
    const t = new StoredPrefix({ pos: [6, 0], seq: 9 }, 10);
    const lost2 = t.add(7, 0);
    const later2 = t.add(8, 0);
    t.stored(later2, 12);
    expect(t.scanFrom).toBe(10);
    t.stored(lost2, 13); // sent again, stored after
    expect(t.prefix).toEqual({ pos: [8, 0], seq: 12 });
    expect(t.scanFrom).toBe(13);
    s.stored(lost, 11);
    expect(s.prefix).toEqual({ pos: [8, 0], seq: 10 });
  });

  test("changes the start found stored after its prefix keep scanFrom down until the prefix passes them", () => {
    // The last run stored (9.0) at seq 30 but lost (8.0): the start read from 25.
    const s = new StoredPrefix({ pos: [7, 0], seq: 20 }, 25, [9, 0]);
    expect(s.scanFrom).toBe(21);
    expect(s.settled).toBe(false); // (9.0) lies ahead
    const lost = s.add(8, 0);
    s.add(9, 0, 30);
    expect(s.prefix).toEqual({ pos: [7, 0], seq: 20 });
    expect(s.scanFrom).toBe(21);
    s.stored(lost, 31);
    expect(s.prefix).toEqual({ pos: [9, 0], seq: 30 });
    expect(s.scanFrom).toBe(31);
    expect(s.settled).toBe(true);
  });

  test("compacts its list as the prefix moves (many changes, one at a time)", () => {
    const s = new StoredPrefix({ pos: [0, -1], seq: 0 }, 1);
    for (let i = 1; i <= 5000; i++) s.stored(s.add(i, 0), i);
    expect(s.prefix).toEqual({ pos: [5000, 0], seq: 5000 });
    expect(s.after).toBe(0);
  });
});
