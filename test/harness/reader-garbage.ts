// Run in a process of its own by test/proto.reader.test.ts:
//   bun test/harness/reader-garbage.ts   → {"rounds": n, "collected": false, "budgetBytes": b}
// Whether OrderReader allocates per order, watched through the garbage collector. A young
// collection starts once `budget` bytes were allocated since the last one: measure the budget
// by allocating 32-byte objects until one starts, then read 2 × budget orders and see whether
// one started. A fresh process, because another suite's heap and timers move both.

import { releaseWeakRefs } from "bun:jsc";
import { AMOUNT_CENTS_MAX, encodeOrders, MEMBER_MAX, type Order, OrderReader } from "../../proto/index.ts";
import { mulberry32 } from "./prng.ts";

const ORDERS = 10_000;
const LINES = ["taobao", "tmall", "eleme", "fliggy", "hema"];

function batch(): Uint8Array {
  const rnd = mulberry32(77);
  const below = (n: number) => Math.floor(rnd() * n);
  const orders: Order[] = [];
  for (let i = 0; i < ORDERS; i++) {
    // Ids of 8 … 24 bytes (fixstr), one in ten of 33 … 60 (str8), one in ten with CJK.
    const id = `${i % 10 === 0 ? "订单" : "ord"}-${i}-`.padEnd(i % 10 === 5 ? 33 + below(28) : 8 + below(17), "x");
    const ts = 1_767_225_600_000 + i;
    orders.push({
      id,
      member: 1 + below(MEMBER_MAX),
      line: LINES[below(LINES.length)],
      kind: i % 5 === 0 ? "refund" : "paid",
      amount: 1 + below(AMOUNT_CENTS_MAX),
      ts,
      ...(i % 5 === 0 ? { orderTs: ts - 86_400_000 } : {}),
    });
  }
  return encodeOrders(orders);
}

const bytes = batch();
const reader = new OrderReader(LINES);
function readBatch(rounds: number): number {
  let sum = 0;
  for (let k = 0; k < rounds; k++) {
    if (reader.begin(bytes) !== null) throw new Error("the batch is malformed");
    while (reader.next()) {
      if (reader.error !== null) throw new Error(`item ${reader.index}: ${reader.error}`);
      sum += reader.member + reader.amount + reader.fingerprintLo + reader.line;
    }
  }
  return sum;
}

/** Whether a collection ran during `work`: an object only a WeakRef holds dies in any. */
function collectedDuring(work: () => void): boolean {
  Bun.gc(true);
  const ref = new WeakRef({ garbage: true });
  releaseWeakRefs();
  work();
  return ref.deref() === undefined;
}

const sink: unknown[] = new Array(1024).fill(null);
const allocate = (objects: number) => {
  for (let i = 0; i < objects; i++) sink[i & 1023] = { i };
};
allocate(100_000); // warm both loops up: JIT compilation allocates too
readBatch(200);
let budgetBytes = 0;
for (let objects = 8192; ; objects += 8192) {
  if (collectedDuring(() => allocate(objects))) {
    budgetBytes = objects * 32;
    break;
  }
  if (objects * 32 > 256 * 2 ** 20) throw new Error("no collection after 256 MB of garbage: this measurement is broken");
}
const rounds = Math.ceil((2 * budgetBytes) / ORDERS);
let collected = true;
for (let attempt = 0; attempt < 3 && collected; attempt++) collected = collectedDuring(() => readBatch(rounds));
console.log(JSON.stringify({ rounds, collected, budgetBytes }));
