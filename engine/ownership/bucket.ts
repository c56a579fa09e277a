// The lease bucket: created on first use by whichever engine comes first, opened by the rest.

import { type JetStreamClient, StorageType } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { openRacing } from "../../proto/create-race.ts";
import { BUCKET_LEASES } from "../../proto/ownership-names.ts";

export interface LeaseBucketOptions {
  /** 3 on a cluster: a lease must outlive the node that stored it. */
  replicas?: number;
  /** Another name, so that tests can run side by side on one server. */
  bucket?: string;
}

export async function openLeaseBucket(js: JetStreamClient, opts: LeaseBucketOptions = {}): Promise<KV> {
  return openRacing(() => new Kvm(js).create(opts.bucket ?? BUCKET_LEASES, {
    // Compare-and-set needs only the last value of each key.
    history: 1,
    replicas: opts.replicas ?? 1,
    // File, not memory: epochs must grow across a restart of the whole cluster.
    storage: StorageType.File,
    // Reads through the stream leader: a follower's direct get may answer with an old
    // revision. That would be safe (the compare-and-set then fails) but slows take-overs.
    allow_direct: false,
    // No max_age: on 2.9 it is per bucket and removes a key silently (no delete marker),
    // and a vanished lease would restart its epoch. Expiry is judged by the contenders.
  }));
}
