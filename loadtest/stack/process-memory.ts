// What a process holds, read inside it after a full collection: RSS (what the kernel counts)
// and the JavaScriptCore heap (objects the process's JS keeps alive).

import { heapStats } from "bun:jsc";

export interface ProcessMemory {
  rssBytes: number;
  /** JSC heap in use after the collection (bun:jsc heapStats().heapSize). */
  heapBytes: number;
  /** What JSC has reserved for its heap. */
  heapCapacityBytes: number;
}

/** Collects twice (the second pass frees what the first one's finalizers released), then reads. */
export function processMemory(): ProcessMemory {
  Bun.gc(true);
  Bun.gc(true);
  const h = heapStats();
  return { rssBytes: process.memoryUsage().rss, heapBytes: h.heapSize, heapCapacityBytes: h.heapCapacity };
}
