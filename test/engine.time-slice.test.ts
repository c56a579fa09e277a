// TimeSlice: one slice per turn of the event loop for all consume loops together, handed
// round robin. The clock is injected: each item of work advances it by one unit.

import { describe, expect, test } from "bun:test";
import { TimeSlice } from "../engine/time-slice.ts";

/** Runs `loops` busy loops of `items` each through one slice; returns the log, "|" at each turn. */
async function run(loops: number, items: number, sliceUnits: number): Promise<string[]> {
  let clock = 0;
  const slice = new TimeSlice(sliceUnits, () => clock);
  const log: string[] = [];
  let done = 0;
  // A turn marker: an immediate that re-schedules itself marks each check phase.
  const marker = () => {
    log.push("|");
    if (done < loops) setImmediate(marker);
  };
  setImmediate(marker);
  await Promise.all(
    Array.from({ length: loops }, async (_, id) => {
      for (let i = 0; i < items; i++) {
        await slice.yieldIfSpent(); // before each item, as the partition runner does
        clock++; // one unit of work
        log.push(String.fromCharCode(65 + id));
      }
      done++;
    }),
  );
  return log;
}

describe("TimeSlice", () => {
  test("all loops together get one slice per turn, not one each", async () => {
    const log = await run(8, 40, 5);
    // Before the first turn every loop has started and shared the first slice; after it, turns.
    const turns = log.join("").split("|").slice(1).filter((t) => t.length > 0);
    // 320 items in slices of 5: about 64 turns. (A fresh slice per loop gave 8 × 5 items a turn.)
    expect(turns.length).toBeGreaterThanOrEqual(60);
    for (const t of turns) expect(t.length).toBeLessThanOrEqual(5);
  });

  test("round robin: every loop runs within a few turns, none starves", async () => {
    const log = await run(8, 40, 5);
    const turns = log.join("").split("|").filter((t) => t.length > 0);
    // Until the first loop finishes, each window of 8 turns serves every loop.
    const firstDone = turns.findIndex((_, i) => turns.slice(0, i + 1).join("").split("A").length - 1 >= 40);
    for (let i = 0; i + 8 <= Math.min(firstDone, turns.length); i++) {
      const window = new Set(turns.slice(i, i + 8).join(""));
      expect(window.size).toBe(8);
    }
    // Every loop finished every item.
    for (let id = 0; id < 8; id++) expect(log.filter((x) => x === String.fromCharCode(65 + id)).length).toBe(40);
  });

  test("within the slice nothing yields", async () => {
    let clock = 0;
    const slice = new TimeSlice(1000, () => clock);
    let ran = false;
    setImmediate(() => (ran = true));
    for (let i = 0; i < 100; i++) {
      await slice.yieldIfSpent();
      clock++;
    }
    expect(ran).toBe(false);
    expect(slice.yields).toBe(0);
  });
});
