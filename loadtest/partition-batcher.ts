// PartitionBatcher: one message buffer per partition. Orders are written straight into
// their partition's buffer (order-bytes.ts); a full buffer becomes one ORDERS body, handed to
// the sink as a view of the reused buffer — no allocation per order, one view per message.

import { BATCH_ITEMS_MAX } from "../proto/types.ts";

/** Called with a message body; `body` is valid only during the call (the buffer is reused). */
export type MessageSink = (partition: number, body: Uint8Array) => void;

/** Room for the array header: 0xdc + a 16-bit count (the fixarray form uses the last byte). */
const HEADER_BYTES = 3;
const FIXARRAY_MAX = 15;

export class PartitionBatcher {
  readonly buffers: Uint8Array[];
  /** Next write position in each partition's buffer. */
  readonly positions: Int32Array;
  private readonly counts: Int32Array;

  constructor(
    readonly partitions: number,
    readonly ordersPerMessage: number,
    orderBytesMax: number,
    private readonly sink: MessageSink,
  ) {
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 65536) throw new RangeError("partitions 1 … 65536");
    // BATCH_ITEMS_MAX (10 000) < 2^16, so the 16-bit array header always suffices.
    if (!Number.isInteger(ordersPerMessage) || ordersPerMessage < 1 || ordersPerMessage > BATCH_ITEMS_MAX) {
      throw new RangeError(`ordersPerMessage 1 … ${BATCH_ITEMS_MAX}`);
    }
    const bytes = HEADER_BYTES + ordersPerMessage * orderBytesMax;
    this.buffers = Array.from({ length: partitions }, () => new Uint8Array(bytes));
    this.positions = new Int32Array(partitions).fill(HEADER_BYTES);
    this.counts = new Int32Array(partitions);
  }

  /** Call after writing one order at positions[p] (and moving it on). */
  added(p: number): void {
    if (++this.counts[p] === this.ordersPerMessage) this.emit(p);
  }

  /** Emits every partly filled message. */
  flush(): void {
    for (let p = 0; p < this.partitions; p++) if (this.counts[p] > 0) this.emit(p);
  }

  private emit(p: number): void {
    const buf = this.buffers[p];
    const n = this.counts[p];
    const end = this.positions[p];
    let body: Uint8Array;
    if (n <= FIXARRAY_MAX) {
      buf[HEADER_BYTES - 1] = 0x90 | n;
      body = buf.subarray(HEADER_BYTES - 1, end);
    } else {
      buf[0] = 0xdc;
      buf[1] = n >>> 8;
      buf[2] = n & 0xff;
      body = buf.subarray(0, end);
    }
    this.counts[p] = 0;
    this.positions[p] = HEADER_BYTES;
    this.sink(p, body);
  }
}
