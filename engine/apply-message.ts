// applyMessage: one ORDERS message → the partition state, item by item.
// Pure (no I/O): the runner publishes what it returns; tests and benchmarks call it directly.

import type { BadInputCode } from "../proto/errors.ts";
import { memberHash32 } from "../proto/partition.ts";
import { ITEM_TICK, type OrderReader } from "../proto/reader.ts";
import { DUPLICATE, type PartitionState, type StateChange } from "./state/partition-state.ts";

export interface DeadLetter {
  /** Index of the item in its message; −1 when the whole message is bad. */
  item: number;
  code: BadInputCode;
  /** The raw bytes of the item (or of the whole message). */
  bytes: Uint8Array;
}

export type Change = StateChange;

export interface MessageResult {
  applied: number;
  duplicates: number;
  deadLetters: DeadLetter[];
  changes: Change[];
}

const NONE: never[] = [];

export function applyMessage(
  state: PartitionState,
  reader: OrderReader,
  data: Uint8Array,
  storedMs: number,
): MessageResult {
  const result: MessageResult = { applied: 0, duplicates: 0, deadLetters: NONE, changes: NONE };
  const fault = reader.begin(data);
  if (fault !== null) {
    result.deadLetters = [{ item: -1, code: fault, bytes: data }];
    return result;
  }
  const partitions = state.config.partitions;
  const partition = state.partition;
  const tsMax = storedMs + state.config.futureSkewMs;
  while (reader.next()) {
    let code = reader.error;
    if (code === null && reader.ts > tsMax) code = "ts_in_future";
    if (code === null && reader.kind !== ITEM_TICK && memberHash32(reader.member) % partitions !== partition) {
      code = "wrong_partition";
    }
    if (code !== null) {
      if (result.deadLetters === NONE) result.deadLetters = [];
      result.deadLetters.push({ item: reader.index, code, bytes: data.subarray(reader.itemStart, reader.itemEnd) });
      continue;
    }
    if (reader.kind === ITEM_TICK) {
      state.advanceClock(reader.ts);
    } else {
      const r = state.applyOrder(
        reader.kind,
        reader.member,
        reader.line,
        reader.amount,
        reader.ts,
        reader.orderTs,
        reader.fingerprintHi,
        reader.fingerprintLo,
      );
      if (r === DUPLICATE) {
        result.duplicates++;
        continue;
      }
    }
    result.applied++;
    // Changes are rare: only now is the id decoded into a string.
    if (state.pendingChanges > 0) {
      const cause = reader.kind === ITEM_TICK ? "" : reader.idString();
      if (result.changes === NONE) result.changes = [];
      for (const c of state.takeChanges()) {
        if (!c.rollover) c.cause = cause;
        result.changes.push(c);
      }
    }
  }
  return result;
}
