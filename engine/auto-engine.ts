// AutoEngine: an engine started with `--partitions auto` — it owns nothing at start and serves
// the partitions its Coordinator wins through leases (engine/ownership): it loads each from
// the newest snapshot in the JetStream object store and the log after it, hands partitions
// off on a rebalance or SIGTERM (drain, snapshot, release), and fences one the instant its
// lease is gone.

import { jetstream } from "@nats-io/jetstream";
import { Engine, type EngineOptions } from "./engine.ts";
import { consoleLogger } from "./log.ts";
import { Coordinator, defaultEngineId } from "./ownership/coordinator.ts";

export interface AutoEngineOptions extends Omit<EngineOptions, "partitions"> {
  /** Lease TTL (ms); default the lease table's (5 s). */
  leaseTtlMs?: number;
}

export class AutoEngine {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly engine: Engine,
    readonly coordinator: Coordinator,
  ) {}

  get id(): string {
    return this.coordinator.id;
  }

  static async start(options: AutoEngineOptions): Promise<AutoEngine> {
    const log = options.log ?? consoleLogger("engine");
    // Unique per process incarnation: two live processes with one id would share leases.
    const id = options.name ?? defaultEngineId();
    // Snapshots in NATS by default: the next owner may run on another machine.
    const snapshotObjectStore = !options.snapshotStore && !options.snapshotDir;
    const engine = await Engine.start({ ...options, name: id, log, partitions: [], snapshotObjectStore });
    try {
      const js = jetstream(engine.nc);
      const coordinator: Coordinator = await Coordinator.start({
        js,
        id,
        partitions: options.config.partitions,
        replicas: options.replicas,
        ttlMs: options.leaseTtlMs,
        log,
        handlers: {
          // The fence belongs to this acquisition: a runner of an earlier one never writes again.
          acquire: (p, { epoch }) => engine.addPartition(p, coordinator.fence(p, epoch)),
          release: (p) => engine.removePartition(p),
          lost: (p) => engine.fencePartition(p),
        },
      });
      return new AutoEngine(engine, coordinator);
    } catch (err) {
      await engine.stop().catch(() => {});
      throw err;
    }
  }

  /** handoff: every partition drained, snapshotted and released for the others to take at once. */
  stop(opts: { handoff: boolean } = { handoff: true }): Promise<void> {
    this.stopping ??= (async () => {
      await this.coordinator.stop(opts);
      await this.engine.stop();
    })();
    return this.stopping;
  }
}
