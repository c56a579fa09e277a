// Engine: one process owning a set of partitions. Connects to NATS, makes sure the streams
// exist, and serves each owned partition: a PartitionRunner (orders in, tier changes out),
// its claim desk, its micro-service instance and its interest leases. Partitions can be
// added and removed while it runs (planned hand-off) or fenced (a lost lease).

import { jetstream, type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { Service } from "@nats-io/services";
import { connect, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { ensureStreams } from "../proto/streams.ts";
import { NOTICE_HEARTBEAT_MS } from "../proto/view-notice.ts";
import { AckedPublisher } from "./acked-publisher.ts";
import { Benefits } from "./benefits/benefits.ts";
import type { Config } from "./config.ts";
import { ConsumeConnections } from "./consume-connections.ts";
import { EngineCounters } from "./counters.ts";
import { Interest } from "./interest.ts";
import { consoleLogger, type Logger } from "./log.ts";
import { type ServiceDeps, startPartitionService, startStatsResponder } from "./member-service.ts";
import { CONSUME_BUFFER_BYTES_PER_CONNECTION, PartitionRunner, pullBytesFor } from "./partition-runner.ts";
import { RequestLane } from "./request-lane.ts";
import type { SnapshotStorage } from "./snapshot/snapshot-store.ts";
import { ObjectSnapshotStore } from "./snapshot/object-store.ts";
import { SnapshotStore } from "./snapshot/store.ts";
import { MARK_REFRESH_MS, recoveryCounts, TierMarks } from "./tier-marks.ts";
import { Ticker } from "./ticker.ts";
import { TimeSlice } from "./time-slice.ts";
import { NoticeBatcher } from "./view-notices.ts";

export interface EngineOptions {
  natsUrl: string;
  config: Config;
  /** Owned partitions; all by default; [] to start with none (partitions added later, e.g. by leases). */
  partitions?: number[];
  log?: Logger;
  /** Wall clock for ticks and benefit windows (event time comes from the log, never from here). */
  now?: () => number;
  /** Randomness for run ids (view notices); Math.random by default. */
  random?: () => number;
  /** Stream replicas when this engine creates the streams. */
  replicas?: number;
  name?: string;
  /** Folder for partition snapshots; without one the engine replays its partitions from the start. */
  snapshotDir?: string;
  /** A snapshot store of one's own (tests inject a slow one); overrides snapshotDir. */
  snapshotStore?: SnapshotStorage;
  /** Snapshots in the JetStream object store TIERSTREAM_SNAPSHOTS (so any process, anywhere, can take a partition over). */
  snapshotObjectStore?: boolean;
  /**
   * How long a partition just taken publishes every tier change live, before only watched
   * members' changes go out live (engine/live-tiers.ts); tests shorten it.
   */
  liveTierGraceMs?: number;
  /** How long a watched member stays watched after its last announcement, at least (live-tiers.ts); tests shorten it. */
  liveTierLeaseMinMs?: number;
}

function connectEngine(options: EngineOptions, role: string): Promise<NatsConnection> {
  return connect({
    servers: options.natsUrl,
    name: `${options.name ?? "tierstream-engine"}${role}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // nats.js otherwise builds up to three Error objects (stack traces) per request — every
    // claim record's publish, every JetStream API call: ~6 % of the engine's CPU in a claim storm.
    noAsyncTraces: true,
  });
}

export class Engine {
  readonly counters = new EngineCounters();
  readonly runners = new Map<number, PartitionRunner>();
  private readonly services = new Map<number, Service>();
  private ticker: Ticker | null = null;
  private interest: Interest | null = null;
  private rateTimer: ReturnType<typeof setInterval> | null = null;
  private snapshotTimer: ReturnType<typeof setInterval> | null = null;
  private noticeTimer: ReturnType<typeof setInterval> | null = null;
  private markTimer: ReturnType<typeof setInterval> | null = null;
  private statsSub: Subscription | null = null;
  private lane: RequestLane | null = null;
  private marks: TierMarks | null = null;
  /** Events applied in the last full second. */
  eventsPerSec = 0;
  private stopping: Promise<void> | null = null;
  benefits: Benefits | null = null;

  private readonly publisher: AckedPublisher;
  /** View notices for the gateways' member caches, all partitions in one message per batch. */
  private readonly notices: NoticeBatcher;
  private readonly slice = new TimeSlice();
  private snapshots: SnapshotStorage | undefined;
  private readonly now: () => number;
  readonly id: string;
  private jsm!: JetStreamManager;
  private consume!: ConsumeConnections;
  private pullBytes = 0;
  private serviceDeps!: ServiceDeps;

  private constructor(
    readonly nc: NatsConnection,
    /** Tier changes and dead letters go out on their own connection: their PubAcks never queue behind ORDERS pulls. */
    private readonly publishNc: NatsConnection,
    readonly options: EngineOptions,
    private readonly log: Logger,
  ) {
    this.publisher = new AckedPublisher(publishNc);
    this.notices = new NoticeBatcher(nc);
    this.now = options.now ?? Date.now;
    this.id = options.name ?? `engine-${process.pid}`;
    this.snapshots = options.snapshotStore ?? (options.snapshotDir ? new SnapshotStore(options.snapshotDir, log) : undefined);
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
      engine.benefits?.stop();
      await Promise.all([nc.close(), publishNc.close(), engine.consume?.close()]).catch(() => {});
      throw err;
    }
    return engine;
  }

  private async init(): Promise<void> {
    const { config } = this.options;
    const js = jetstream(this.nc);
    this.jsm = await jetstreamManager(this.nc);
    await ensureStreams(this.jsm, { replicas: this.options.replicas });
    this.marks = await TierMarks.open(this.nc, js, this.jsm, this.options.replicas, (m) => this.log.warn(m));
    if (!this.snapshots && this.options.snapshotObjectStore) {
      this.snapshots = await ObjectSnapshotStore.open(js, { replicas: this.options.replicas, log: this.log });
    }
    // Sized for every partition: with leases this process may come to own any number of them.
    this.pullBytes = pullBytesFor(config.partitions, this.nc.info?.max_payload ?? 1024 * 1024);
    const perConnection = Math.max(1, Math.floor(CONSUME_BUFFER_BYTES_PER_CONNECTION / this.pullBytes));
    this.consume = new ConsumeConnections(perConnection, (i) => connectEngine(this.options, `-consume-${i}`));
    this.benefits = await Benefits.start({ nc: this.nc, js, jsm: this.jsm, publisher: this.publisher, partitions: config.partitions, replicas: this.options.replicas, now: this.now, log: this.log });
    this.serviceDeps = {
      nc: this.nc,
      runners: this.runners,
      partitions: config.partitions,
      counters: this.counters,
      engineId: this.id,
      eventsPerSec: () => this.eventsPerSec,
      benefits: this.benefits,
    };
    this.statsSub = await startStatsResponder(this.serviceDeps);
    this.lane = new RequestLane(this.nc, this.serviceDeps);
    await this.lane.start();
    let lastApplied = this.counters.eventsApplied;
    this.rateTimer = setInterval(() => {
      this.eventsPerSec = this.counters.eventsApplied - lastApplied;
      lastApplied = this.counters.eventsApplied;
    }, 1000);
    // Quiet partitions say they are alive, so a gateway trusts its cached views only while it hears them.
    this.noticeTimer = setInterval(() => this.notices.heartbeat(), NOTICE_HEARTBEAT_MS);
    // Marks follow the stored prefixes, so a start after a crash reads little of TIER_EVENTS.
    this.markTimer = setInterval(() => {
      for (const r of this.runners.values()) r.refreshMark();
    }, MARK_REFRESH_MS);
    this.ticker = new Ticker(js, this.runners, config.tickIntervalMs, this.now, this.log);
    this.ticker.start();
    this.interest = new Interest(this.nc, this.now, this.log, this.options.liveTierGraceMs);
    this.interest.start();
    if (this.snapshots) {
      this.snapshotTimer = setInterval(() => {
        for (const r of this.runners.values()) r.requestSnapshot();
      }, config.snapshotIntervalMs);
    }
    const owned = this.options.partitions ?? [...Array(config.partitions).keys()];
    await Promise.all(owned.map((p) => this.addPartition(p)));
    if (owned.length > 0) {
      const found = recoveryCounts([...this.runners.values()].map((r) => r.tierRecoveredBy));
      this.log.info(`owns ${owned.length} of ${config.partitions} partitions; replaying (last tier changes found by ${found})`);
    }
  }

  /**
   * Starts serving partition p: its runner loads the newest snapshot and replays the log after
   * it; its claims are read back; then its endpoints and interest subscription open.
   * `mayPublish` is the fence (the lease check) when ownership comes from leases.
   */
  async addPartition(p: number, mayPublish?: () => boolean): Promise<void> {
    if (this.runners.has(p)) throw new Error(`partition ${p} is served here already`);
    if (!Number.isInteger(p) || p < 0 || p >= this.options.config.partitions) throw new RangeError(`no partition ${p}`);
    const consumeJs = await this.consume.take(p);
    const runner = new PartitionRunner(p, {
      slice: this.slice,
      snapshots: this.snapshots,
      now: this.options.now,
      random: this.options.random,
      notices: this.notices,
      pullBytes: this.pullBytes,
      consumeJs,
      nc: this.nc,
      publisher: this.publisher,
      jsm: this.jsm,
      config: this.options.config,
      counters: this.counters,
      log: this.log,
      mayPublish,
      marks: this.marks ?? undefined,
      liveTierLeaseMinMs: this.options.liveTierLeaseMinMs,
    });
    this.runners.set(p, runner);
    // The lease can be lost while p loads (fencePartition drops the runner): after each step,
    // stop unless this runner is still p's, so nothing of a fenced load stays registered.
    const stillMine = () => this.runners.get(p) === runner;
    try {
      await runner.start();
      if (stillMine()) await this.benefits!.addPartition(p, () => (runner.caughtUp ? runner.state : null));
      if (stillMine()) await this.interest!.add(p, { scores: runner.scoreFeed, tiers: runner.liveTiers });
      const svc = stillMine() ? await startPartitionService(this.serviceDeps, p, runner) : null;
      if (svc && stillMine()) {
        this.services.set(p, svc);
        this.lane!.serve(p);
      } else {
        await svc?.stop().catch(() => {});
        throw new Error(`partition ${p} was fenced while it loaded`);
      }
    } catch (err) {
      if (stillMine()) await this.dropPartition(p);
      runner.fence();
      throw err;
    }
  }

  /** A planned hand-off: stop answering, stop consuming, publish what is pending, snapshot. */
  async removePartition(p: number): Promise<void> {
    const runner = this.runners.get(p);
    if (!runner) return;
    await this.dropPartition(p);
    await runner.stop();
    this.log.info(`partition ${p} handed off at orders seq ${runner.lastSeq}`);
  }

  /** The lease is lost: nothing more is applied or published for p, at once. */
  fencePartition(p: number): void {
    const runner = this.runners.get(p);
    if (!runner) return;
    runner.fence();
    void this.dropPartition(p);
    this.log.warn(`partition ${p} fenced at orders seq ${runner.lastSeq}: its lease is gone`);
  }

  private async dropPartition(p: number): Promise<void> {
    this.lane?.withdraw(p);
    const svc = this.services.get(p);
    this.services.delete(p);
    this.runners.delete(p);
    this.benefits?.removePartition(p);
    this.interest?.remove(p);
    this.consume.give(p);
    await svc?.stop().catch(() => {});
  }

  /** True once every owned partition has applied what its log held when it started. */
  get ready(): boolean {
    for (const r of this.runners.values()) if (!r.caughtUp) return false;
    return !this.nc.isClosed();
  }

  async whenCaughtUp(): Promise<void> {
    await Promise.all([...this.runners.values()].map((r) => r.whenCaughtUp()));
  }

  /** Drains: stops consuming, publishes what is pending, closes the connections. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.ticker?.stop();
      this.interest?.stop();
      if (this.rateTimer) clearInterval(this.rateTimer);
      if (this.snapshotTimer) clearInterval(this.snapshotTimer);
      if (this.noticeTimer) clearInterval(this.noticeTimer);
      if (this.markTimer) clearInterval(this.markTimer);
      this.statsSub?.unsubscribe();
      this.lane?.stop();
      await Promise.all([...this.services.values()].map((s) => s.stop().catch(() => {})));
      this.services.clear();
      this.benefits?.stop();
      await Promise.all([...this.runners.values()].map((r) => r.stop()));
      this.notices.stop();
      this.publisher.close();
      await Promise.all([this.nc.drain().catch(() => {}), this.publishNc.drain().catch(() => {}), this.consume.drain()]);
    })();
    return this.stopping;
  }
}
