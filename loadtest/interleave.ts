// The order in which a benchmark feeds pre-encoded messages: round-robin over partitions,
// each partition's messages in sequence — as a producer writing to every partition at once
// would leave them in ORDERS, and as an engine consuming every partition at once meets them.

export interface Schedule {
  /** Partition of each message. */
  partitions: Int32Array;
  bodies: Uint8Array[];
  /** Messages per partition. */
  perPartition: Int32Array;
}

export function interleave(batches: readonly Uint8Array[][]): Schedule {
  const total = batches.reduce((n, b) => n + b.length, 0);
  const partitions = new Int32Array(total);
  const bodies: Uint8Array[] = new Array(total);
  const rounds = Math.max(0, ...batches.map((b) => b.length));
  let i = 0;
  for (let k = 0; k < rounds; k++) {
    for (let p = 0; p < batches.length; p++) {
      if (k >= batches[p].length) continue;
      partitions[i] = p;
      bodies[i++] = batches[p][k];
    }
  }
  console.assert(i === total, "every message scheduled once");
  return { partitions, bodies, perPartition: Int32Array.from(batches.map((b) => b.length)) };
}
