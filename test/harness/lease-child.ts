// A child process for the SIGSTOP test: takes partition p's lease, then publishes a marker to
// `fence.<p>` every few ms while — and only while — holds(p). Lines on stdout:
//   acquired <epoch>       lost <reason> <wall ms>       fenced <wall ms> (first loop turn that saw holds(p) false)
//
//   bun test/harness/lease-child.ts <nats url> <bucket> <partition> <ttl ms>

import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { openLeaseBucket } from "../../engine/ownership/bucket.ts";
import { BucketView } from "../../engine/ownership/bucket-view.ts";
import { LeaseTable } from "../../engine/ownership/lease-table.ts";
import { silentLogger } from "../../engine/log.ts";

const [url, bucket, partitionArg, ttlArg] = process.argv.slice(2);
const p = Number(partitionArg);
const nc = await connect({ servers: url });
const js = jetstream(nc);
const view = new BucketView(await openLeaseBucket(js, { bucket }), () => performance.now(), silentLogger);
await view.start();
const table = new LeaseTable({
  view,
  owner: `child-${process.pid}`,
  partitions: p + 1,
  ttlMs: Number(ttlArg),
  onLost: (lp, reason) => console.log(`lost ${lp} ${reason} ${Date.now()}`),
});
table.start();
let r = await table.tryAcquire(p);
while (!r.ok) {
  await Bun.sleep(20);
  r = await table.tryAcquire(p);
}
console.log(`acquired ${r.epoch}`);
let fenced = false;
for (let i = 0; ; i++) {
  // The time first: a marker is only ever sent after a holds(p) read at or after issuedAt.
  const issuedAt = Date.now();
  if (table.holds(p)) {
    await js.publish(`fence.${p}`, JSON.stringify({ owner: table.owner, epoch: r.epoch, i, issuedAt }));
  } else if (!fenced) {
    fenced = true;
    console.log(`fenced ${Date.now()}`);
  }
  await Bun.sleep(5);
}
