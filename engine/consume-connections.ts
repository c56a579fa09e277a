// The connections partitions consume ORDERS on: each holds at most `perConnection` partitions
// (their pulls together stay under the server's slow-consumer limit, see partition-runner.ts),
// and a new one opens when every one is full. Partitions come and go with ownership.

import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

interface Slot {
  nc: NatsConnection;
  js: JetStreamClient;
  partitions: Set<number>;
}

export class ConsumeConnections {
  private readonly slots: Slot[] = [];
  private opening: Promise<Slot> | null = null;

  constructor(
    private readonly perConnection: number,
    private readonly open: (index: number) => Promise<NatsConnection>,
  ) {}

  get connections(): NatsConnection[] {
    return this.slots.map((s) => s.nc);
  }

  /** JetStream on a connection with room, for partition p. */
  async take(p: number): Promise<JetStreamClient> {
    for (;;) {
      const slot = this.slots.find((s) => s.partitions.size < this.perConnection);
      if (slot) {
        slot.partitions.add(p);
        return slot.js;
      }
      // One connection opens at a time; partitions waiting for room share it.
      this.opening ??= this.open(this.slots.length).then((nc) => {
        const s = { nc, js: jetstream(nc), partitions: new Set<number>() };
        this.slots.push(s);
        this.opening = null;
        return s;
      });
      await this.opening;
    }
  }

  give(p: number): void {
    for (const s of this.slots) s.partitions.delete(p);
  }

  async drain(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.nc.drain().catch(() => {})));
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.nc.close().catch(() => {})));
  }
}
