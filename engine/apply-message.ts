// applyMessage: one ORDERS message → the partition state, item by item.
// Pure (no I/O): the runner publishes what it returns; tests and benchmarks call it directly.

import type { BadInputCode } from "../proto/errors.ts";
import { memberHash32 } from "../proto/partition.ts";
import { idStringAt, ITEM_TICK, type OrderReader } from "../proto/reader.ts";
import { OrderChunk } from "./order-chunk.ts";
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
/** One chunk serves every call: applyMessage runs to its end without yielding. */
const chunk = new OrderChunk();

/**
 * `withCauses` false leaves each change's `cause` "" (rollovers keep "rollover"): a replay of
 * messages whose changes are stored already publishes none of them, and decoding the causing
 * order's id into a string was a few percent of catching up.
 */
export function applyMessage(
  state: PartitionState,
  reader: OrderReader,
  data: Uint8Array,
  storedMs: number,
  withCauses = true,
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
  const { error, kind, member, ts } = chunk;
  // Decode a chunk, validate it, let the state touch what it will need, then apply it in order.
  while (chunk.fill(reader)) {
    const n = chunk.length;
    for (let k = 0; k < n; k++) {
      if (error[k] === null && ts[k] > tsMax) error[k] = "ts_in_future";
      if (error[k] === null && kind[k] !== ITEM_TICK) {
        const h = memberHash32(member[k]);
        chunk.memberHash[k] = h;
        if (h % partitions !== partition) error[k] = "wrong_partition";
      }
    }
    state.warm(chunk);
    for (let k = 0; k < n; k++) {
      const code = error[k];
      if (code !== null) {
        if (result.deadLetters === NONE) result.deadLetters = [];
        result.deadLetters.push({ item: chunk.index[k], code, bytes: data.subarray(chunk.itemStart[k], chunk.itemEnd[k]) });
        continue;
      }
      if (kind[k] === ITEM_TICK) {
        state.advanceClock(ts[k]);
      } else {
        const r = state.applyOrder(
          kind[k],
          member[k],
          chunk.memberHash[k],
          chunk.line[k],
          chunk.amount[k],
          ts[k],
          chunk.orderTs[k],
          chunk.fingerprintHi[k],
          chunk.fingerprintLo[k],
        );
        if (r === DUPLICATE) {
          result.duplicates++;
          continue;
        }
      }
      result.applied++;
      // Changes are rare: only now is the id decoded into a string.
      if (state.pendingChanges > 0) {
        const cause = kind[k] === ITEM_TICK || !withCauses ? "" : idStringAt(data, chunk.idStart[k], chunk.idLength[k]);
        if (result.changes === NONE) result.changes = [];
        for (const c of state.takeChanges()) {
          if (!c.rollover) c.cause = cause;
          result.changes.push(c);
        }
      }
    }
  }
  return result;
}
