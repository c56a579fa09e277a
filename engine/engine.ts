// Engine: one process owning a set of partitions. Connects to NATS, makes sure the streams
// exist, starts a PartitionRunner per owned partition, the ticker and the member service.

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Service } from "@nats-io/services";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ensureStreams } from "../proto/streams.ts";
import type { Config } from "./config.ts";
import { EngineCounters } from "./counters.ts";
import { consoleLogger, type Logger } from "./log.ts";
import { startMemberService } from "./member-service.ts";
import { CONSUME_BUFFER_BYTES_PER_CONNECTION, PartitionRunner, pullBytesFor } from "./partition-runner.ts";
import { Ticker } from "./ticker.ts";
import { SnapshotStore } from "./snapshot/store.ts";
import { TimeSlice } from "./time-slice.ts";
import { Interest } from "./interest.ts";
import { AckedPublisher } from "./acked-publisher.ts";
import { Benefits } from "./benefits/benefits.ts";

export interface EngineOptions {
  natsUrl: string;
  config: Config;
  /** Owned partitions; all by default. */
  partitions?: number[];
  log?: Logger;
  /** Wall clock for ticks (event time comes from the log, never from here). */
  now?: () => number;
  /** Stream replicas when this engine creates the streams. */
  replicas?: number;
  name?: string;
  /** Folder for partition snapshots; without one the engine replays its partitions from the start. */
  snapshotDir?: string;
  /** A snapshot store of one's own (tests inject a slow one); overrides snapshotDir. */
  snapshotStore?: SnapshotStore;
}

function connectEngine(options: EngineOptions, role: string): Promise<NatsConnection> {
  return connect({
    servers: options.natsUrl,
    name: `${options.name ?? "tierstream-engine"}${role}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  });
}

export class Engine {
  readonly counters = new EngineCounters();
  readonly runners = new Map<number, PartitionRunner>();
  private ticker: Ticker | null = null;
  private interest: Interest | null = null;
  private rateTimer: ReturnType<typeof setInterval> | null = null;
  private snapshotTimer: ReturnType<typeof setInterval> | null = null;
  /** Events applied in the last full second. */
  eventsPerSec = 0;
  private service: Service | null = null;
  benefits: Benefits | null = null;
  private stopping: Promise<void> | null = null;

  private readonly publisher: AckedPublisher;
  /** Connections the partitions consume ORDERS on, a group of partitions each. */
  private readonly consumeNcs: NatsConnection[] = [];

  private connectTo(role: string): Promise<NatsConnection> {
    return connectEngine(this.options, role);
  }

  private constructor(
    readonly nc: NatsConnection,
    /** Tier changes and dead letters go out on their own connection: their PubAcks never queue behind ORDERS pulls. */
    private readonly publishNc: NatsConnection,
    readonly options: EngineOptions,
    private readonly log: Logger,
  ) {
    this.publisher = new AckedPublisher(publishNc);
  }

  static async start(options: EngineOptions): Promise<Engine> {
    const log = options.log ?? consoleLogger("engine");
    const connectTo = (role: string) => connectEngine(options, role);
    const nc = await connectTo("");
    const publishNc = await connectTo("-publish").catch(async (err) => {
      await nc.close();
      throw err;
    });
    const engine = new Engine(nc, publishNc, options, log);
    try {
      await engine.init();
    } catch (err) {
      await Promise.all([nc.close(), publishNc.close(), ...engine.consumeNcs.map((c) => c.close())]).catch(() => {});
      throw err;
    }
    return engine;
  }

  private async init(): Promise<void> {
    const { config } = this.options;
    const js = jetstream(this.nc);
    const jsm = await jetstreamManager(this.nc);
    await ensureStreams(jsm, { replicas: this.options.replicas });
    const owned = this.options.partitions ?? [...Array(config.partitions).keys()];
    // Pulls of all partitions on one connection must stay under its slow-consumer limit.
    const pullBytes = pullBytesFor(owned.length, this.nc.info?.max_payload ?? 1024 * 1024);
    const perConnection = Math.max(1, Math.floor(CONSUME_BUFFER_BYTES_PER_CONNECTION / pullBytes));
    for (let i = 0; i < Math.ceil(owned.length / perConnection); i++) {
      this.consumeNcs.push(await this.connectTo(`-consume-${i}`));
    }
    const consumeJs = this.consumeNcs.map((c) => jetstream(c));
    const slice = new TimeSlice();
    const snapshots =
      this.options.snapshotStore ?? (this.options.snapshotDir ? new SnapshotStore(this.options.snapshotDir, this.log) : undefined);
    for (const [k, p] of owned.entries()) {
      this.runners.set(
        p,
        new PartitionRunner(p, { slice, snapshots, now: this.options.now, pullBytes, consumeJs: consumeJs[Math.floor(k / perConnection)], nc: this.nc, publisher: this.publisher, jsm, config, counters: this.counters, log: this.log }),
      );
    }
    await Promise.all([...this.runners.values()].map((r) => r.start()));
    const now = this.options.now ?? Date.now;
    const benefits = await Benefits.start({ nc: this.nc, js, jsm, partitions: config.partitions, replicas: this.options.replicas, now, log: this.log });
    this.benefits = benefits;
    await Promise.all([...this.runners].map(([p, r]) => benefits.addPartition(p, () => (r.caughtUp ? r.state : null))));
    this.service = await startMemberService({
      benefits,
      nc: this.nc,
      runners: this.runners,
      partitions: config.partitions,
      counters: this.counters,
      engineId: this.options.name ?? `engine-${process.pid}`,
      eventsPerSec: () => this.eventsPerSec,
    });
    let lastApplied = this.counters.eventsApplied;
    this.rateTimer = setInterval(() => {
      this.eventsPerSec = this.counters.eventsApplied - lastApplied;
      lastApplied = this.counters.eventsApplied;
    }, 1000);
    this.ticker = new Ticker(js, this.runners, config.tickIntervalMs, now, this.log);
    this.ticker.start();
    this.interest = new Interest(this.nc, new Map([...this.runners].map(([p, r]) => [p, r.scoreFeed])), now, this.log);
    await this.interest.start();
    if (snapshots) {
      this.snapshotTimer = setInterval(() => {
        for (const r of this.runners.values()) r.requestSnapshot();
      }, config.snapshotIntervalMs);
    }
    this.log.info(`owns ${owned.length} of ${config.partitions} partitions; replaying`);
  }

  /** True once every owned partition has applied what its log held when it started. */
  get ready(): boolean {
    for (const r of this.runners.values()) if (!r.caughtUp) return false;
    return !this.nc.isClosed();
  }

  async whenCaughtUp(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.whenCaughtUp()));
  }

  /** Drains: stops consuming, publishes what is pending, closes the connection. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ticker?.stop();
      this.interest?.stop();
      if (this.rateTimer) clearInterval(this.rateTimer);
      if (this.snapshotTimer) clearInterval(this.snapshotTimer);
      await this.service?.stop().catch(() => {});
      this.benefits?.stop();
      await Promise.all([...this.runners.values()].map((r) => r.stop()));
      this.publisher.close();
      await Promise.all([this.nc, this.publishNc, ...this.consumeNcs].map((c) => c.drain().catch(() => {})));
    })();
    return this.stopping;
  }
}
