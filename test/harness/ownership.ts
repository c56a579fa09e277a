// Helpers for the ownership suites: one "process" = its own NATS connection and its own view
// of the lease bucket, as separate engine processes would have.

import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { openLeaseBucket } from "../../engine/ownership/bucket.ts";
import { BucketView } from "../../engine/ownership/bucket-view.ts";
import { memoryLog } from "./log.ts";

export { memoryLog };

export interface LeaseProcess {
  nc: NatsConnection;
  js: JetStreamClient;
  kv: KV;
  view: BucketView;
  close(): Promise<void>;
}

let buckets = 0;
/** A bucket name of its own for each test, so that tests never see each other's leases. */
export const freshBucket = (): string => `LEASES_${process.pid}_${++buckets}`;

export async function leaseProcess(servers: string | string[], bucket: string, now?: () => number, replicas = 1): Promise<LeaseProcess> {
  const nc = await connect({ servers, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const js = jetstream(nc);
  const kv = await openLeaseBucket(js, { bucket, replicas });
  const view = new BucketView(kv, now ?? (() => performance.now()), memoryLog());
  await view.start();
  return {
    nc,
    js,
    kv,
    view,
    async close() {
      await view.stop();
      await nc.close();
    },
  };
}

export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}
