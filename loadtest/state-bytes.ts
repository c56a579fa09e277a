// Where a partition's state bytes go: per component, per line and per month of age.
// The components add up to PartitionState.memberBytes exactly (checked), so the breakdown
// explains the headline figure rather than estimating it.

import { cellLine, cellMonth } from "../engine/state/cell-arena.ts";
import type { PartitionState } from "../engine/state/partition-state.ts";

/** Bytes per member of the six member arrays (ids f64, score u32, tier u8, cellStart u32, cellCount u16, cellClass u8). */
const MEMBER_ARRAY_BYTES = 8 + 4 + 1 + 4 + 2 + 1;
const CELL_BYTES = 8; // a u32 key and a u32 points

export interface StateBytes {
  members: number;
  memberBytes: number;
  /** memberBytes split; the parts sum to memberBytes. */
  parts: {
    memberArrays: number;
    index: number;
    cellsInUse: number;
    emptyCellsInBlocks: number;
    freeListedCells: number;
    arenaSpare: number;
  };
  dedupBytes: number;
  /** Cells in use (a member's (month, line)) per line index and per age in months (0 = the current month). */
  cellsByLine: Float64Array;
  cellsByAge: Float64Array;
}

export function stateBytes(states: readonly PartitionState[], lines: number, windowMonths: number): StateBytes {
  const out: StateBytes = {
    members: 0,
    memberBytes: 0,
    parts: { memberArrays: 0, index: 0, cellsInUse: 0, emptyCellsInBlocks: 0, freeListedCells: 0, arenaSpare: 0 },
    dedupBytes: 0,
    cellsByLine: new Float64Array(lines),
    cellsByAge: new Float64Array(windowMonths),
  };
  for (const s of states) {
    const arrays =
      s.ids.byteLength + s.score.byteLength + s.tier.byteLength + s.cellStart.byteLength + s.cellCount.byteLength + s.cellClass.byteLength;
    console.assert(arrays === s.ids.length * MEMBER_ARRAY_BYTES, "member arrays share one capacity");
    // The member index is private to PartitionState; read its real byteLength to check memberBytes.
    const index = (s as unknown as { index: Int32Array }).index.byteLength;
    const cells = s.cells;
    let inUse = 0;
    const keys = cells.keys;
    for (let i = 0; i < s.memberCount; i++) {
      const start = s.cellStart[i];
      const end = start + s.cellCount[i];
      for (let c = start; c < end; c++) {
        out.cellsByLine[cellLine(keys[c])]++;
        const age = s.clockMonth - cellMonth(keys[c]);
        if (age >= 0 && age < windowMonths) out.cellsByAge[age]++;
      }
      inUse += end - start;
    }
    const parts = out.parts;
    parts.memberArrays += arrays;
    parts.index += index;
    parts.cellsInUse += inUse * CELL_BYTES;
    parts.emptyCellsInBlocks += (cells.liveCells - inUse) * CELL_BYTES;
    parts.freeListedCells += (cells.used - cells.liveCells) * CELL_BYTES;
    parts.arenaSpare += (cells.keys.length - cells.used) * CELL_BYTES;
    if (arrays + index + cells.keys.byteLength + cells.points.byteLength !== s.memberBytes) {
      throw new Error(`partition ${s.partition}: memberBytes ${s.memberBytes} is not the arrays' byteLength`);
    }
    out.members += s.memberCount;
    out.memberBytes += s.memberBytes;
    out.dedupBytes += s.dedup.bytes;
  }
  return out;
}
