// FeedHub: the WebSocket feed (CONTRACT.md "WebSocket feed") — GET /v1/feed upgraded, one
// member's hello, replay and live frames per connection.
//
//   upgrade.ts     who may open a feed, `since`, the subprotocol (refusals before the upgrade)
//   registry.ts    members → connections; per-member NATS subscriptions, shared by connections
//   interest.ts    the lease protocol: batched announcements, renewal, resync
//   session.ts     hello → replay → live without gap or duplicate (the seam)
//   tier-log.ts    reading a member's stored changes from TIER_EVENTS
//   score-window.ts  ≤ 1 score frame per member per 100 ms, one coarse timer
//   writer.ts      coalesced writes, and the cut (1013) for clients that do not read
//   benefit-push.ts  benefit / benefit_closed frames for flash benefits
//
// Decisions the contract leaves open (documented in the README):
// - the engine does not answer the member view → close 1011 (reason "engine_unavailable");
//   the client retries with backoff. No error frame: the frame types are the contract's.
// - anything a client sends is ignored (clients send nothing but pings); a message over
//   CLIENT_MESSAGE_BYTES_MAX closes the connection with 1009.
// - `since` greater than the member's partition has ever stored (another deployment, a
//   reset stream) is not a resume position: hello.seq is then the view's seq.
// - hello.tier/score are the member now; with `since` the replayed frames that follow are
//   the history since then (each tier frame still has seq > hello.seq).

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Server, WebSocketHandler } from "bun";
import type { Logger } from "../../engine/log.ts";
import type { GatewayBenefits } from "../benefits.ts";
import type { ScoreFrame } from "../client/frames.ts";
import type { GatewayOptions } from "../config.ts";
import type { EngineClient } from "../engine-client.ts";
import type { GatewayMetrics } from "../metrics.ts";
import { BenefitPush } from "./benefit-push.ts";
import { OutFrame, parseLiveTier, parseScore } from "./frames.ts";
import { InterestAnnouncer } from "./interest.ts";
import { type MemberEntry, MemberRegistry } from "./registry.ts";
import { ScoreWindow } from "./score-window.ts";
import { FeedSessions } from "./session.ts";
import type { FeedSocket, FeedSocketData } from "./socket.ts";
import { TierLog } from "./tier-log.ts";
import { errorResponse, parseFeedRequest } from "./upgrade.ts";
import { type CloseReason, SocketWriter } from "./writer.ts";

export type { FeedSocketData } from "./socket.ts";

/** Clients send nothing but pings (control frames, ≤ 125 bytes, not counted here). */
export const CLIENT_MESSAGE_BYTES_MAX = 1024;
/** Bad NATS messages are logged once per this many. */
const BAD_MESSAGE_LOG_EVERY = 1000;

export interface FeedDeps {
  options: GatewayOptions;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  engines: EngineClient;
  benefits: GatewayBenefits;
  metrics: GatewayMetrics;
  log: Logger;
  /** Called once for every tier change the hub sees (the gateway drops its cached view). */
  onTierChange?: (member: number) => void;
  now?: () => number;
}

const HUB_STATES = ["created", "running", "stopping", "stopped"] as const;
type HubState = (typeof HUB_STATES)[number];

export class FeedHub {
  readonly websocket: WebSocketHandler<FeedSocketData>;
  private state: HubState = "created";
  private connections = 0;
  private badMessages = 0;
  private readonly log: Logger;
  private readonly interest: InterestAnnouncer;
  private readonly registry: MemberRegistry;
  private readonly writer: SocketWriter;
  private readonly scores: ScoreWindow;
  private readonly sessions: FeedSessions;
  private readonly push: BenefitPush;
  private readonly closedBy: Record<CloseReason | "client", { inc(): void }>;

  constructor(private readonly deps: FeedDeps) {
    const { options, nc, metrics } = deps;
    this.log = deps.log.child("feed");
    const now = deps.now ?? Date.now;
    this.interest = new InterestAnnouncer(nc, options.name, options.interestLeaseMs, () => this.registry.entries(), this.log, options.interestBatchMs);
    this.registry = new MemberRegistry(nc, options.partitions, this.interest, {
      tier: (entry, data) => this.onTier(entry, data),
      score: (entry, data) => this.onScore(entry, data),
    });
    this.writer = new SocketWriter(options.wsBackpressureBytesMax, metrics, this.cut);
    this.scores = new ScoreWindow(now, (entry, frame) => this.sendScore(entry, frame));
    this.sessions = new FeedSessions({
      engines: deps.engines,
      announced: () => this.interest.announced(),
      registry: this.registry,
      writer: this.writer,
      tierLog: new TierLog(deps.jsm),
      scores: this.scores,
      cut: this.cut,
      log: this.log,
      onLive: (ws) => this.push.onLive(ws),
      onTierSent: (ws, from, to) => this.push.afterTier(ws, from, to),
    });
    this.push = new BenefitPush({ benefits: deps.benefits, engines: deps.engines, registry: this.registry, writer: this.writer, now, log: this.log });
    const closed = metrics.wsClosed;
    this.closedBy = {
      backpressure: closed.labels("backpressure"),
      seam_overflow: closed.labels("seam_overflow"),
      engine_unavailable: closed.labels("engine_unavailable"),
      replay_failed: closed.labels("replay_failed"),
      shutdown: closed.labels("shutdown"),
      client: closed.labels("client"),
    };
    this.websocket = {
      // Idle and half-open connections: Bun pings before idleTimeout and closes a silent peer.
      idleTimeout: options.wsIdleTimeoutSec,
      sendPings: true,
      perMessageDeflate: false,
      maxPayloadLength: CLIENT_MESSAGE_BYTES_MAX,
      // Our own limit (checked after every flush) cuts first; Bun's is the backstop.
      backpressureLimit: options.wsBackpressureBytesMax * 2 + (64 << 10),
      closeOnBackpressureLimit: false,
      open: (ws) => this.onOpen(ws),
      message: () => {},
      close: (ws) => this.onClose(ws),
    };
  }

  async start(): Promise<void> {
    if (this.state !== "created") throw new Error(`FeedHub.start: hub is ${this.state}`);
    this.state = "running";
    this.interest.start();
    this.push.start();
    void this.watchReconnects();
  }

  upgrade(req: Request, server: Server<FeedSocketData>): Response | undefined | Promise<Response | undefined> {
    if (this.state !== "running") return errorResponse(503, "unavailable", "the feed is not accepting connections");
    return parseFeedRequest(req, this.deps.options).then((r) => {
      if (r instanceof Response) return r;
      if (this.state !== "running") return errorResponse(503, "unavailable", "the feed is not accepting connections");
      // Without the header Bun echoes the client's first offer, one we may not speak; "" sends none.
      const headers = { "Sec-WebSocket-Protocol": r.protocol ?? "" };
      if (server.upgrade(req, { data: r.data, headers })) return undefined;
      return errorResponse(426, "upgrade_required", "GET /v1/feed is a WebSocket endpoint");
    });
  }

  stats(): { connections: number; members: number } {
    return { connections: this.connections, members: this.registry.size };
  }

  /** Closes every socket with 1001 (clients resume elsewhere with `since`) and drops all leases. */
  async stop(): Promise<void> {
    if (this.state === "stopping" || this.state === "stopped") return;
    this.state = "stopping";
    this.scores.stop();
    this.push.stop();
    for (const entry of [...this.registry.entries()]) {
      for (const ws of [...entry.sockets]) this.cut(ws, 1001, "shutdown");
    }
    this.interest.stop();
    this.registry.clear();
    await this.deps.nc.flush().catch(() => {});
    this.state = "stopped";
  }

  private onOpen(ws: FeedSocket): void {
    if (this.state !== "running") {
      ws.data.phase = "closed";
      ws.close(1001, "gateway stopping");
      return;
    }
    this.connections++;
    this.deps.metrics.wsConnections.set(this.connections);
    this.sessions.open(ws);
    this.deps.metrics.wsMembers.set(this.registry.size);
  }

  private onClose(ws: FeedSocket): void {
    const d = ws.data;
    if (d.phase !== "closed") {
      this.closedBy.client.inc();
      this.forget(ws);
    }
  }

  /** Closes a connection from the gateway's side (idempotent) and forgets it at once. */
  private readonly cut = (ws: FeedSocket, code: number, reason: CloseReason): void => {
    if (ws.data.phase === "closed") return;
    this.closedBy[reason].inc();
    this.forget(ws);
    ws.close(code, reason);
  };

  private forget(ws: FeedSocket): void {
    const d = ws.data;
    const wasOpen = d.entry !== null;
    d.phase = "closed";
    d.seam = null;
    d.out = null;
    if (d.entry !== null) this.registry.detach(ws, d.entry);
    this.push.forget(ws);
    d.entry = null;
    if (wasOpen) {
      this.connections--;
      this.deps.metrics.wsConnections.set(this.connections);
      this.deps.metrics.wsMembers.set(this.registry.size);
    }
  }

  private onTier(entry: MemberEntry, data: Uint8Array): void {
    const frame = parseLiveTier(data, entry.member);
    if (frame === null) return this.badMessage("live tier", entry.member);
    this.deps.onTierChange?.(entry.member);
    const out = new OutFrame(frame);
    const sockets = entry.sockets.length === 1 ? entry.sockets : [...entry.sockets];
    for (let i = 0; i < sockets.length; i++) this.sessions.tier(sockets[i], out);
  }

  private onScore(entry: MemberEntry, data: Uint8Array): void {
    const frame = parseScore(data, entry.member);
    if (frame === null) return this.badMessage("score", entry.member);
    // The copy a per-member and a partition-wide subscription both delivered (registry.ts).
    if (frame.ts === entry.tickTs && frame.score === entry.tickScore) return;
    entry.tickTs = frame.ts;
    entry.tickScore = frame.score;
    this.scores.offer(entry, frame);
  }

  private sendScore(entry: MemberEntry, frame: ScoreFrame): void {
    const out = new OutFrame(frame);
    const sockets = entry.sockets.length === 1 ? entry.sockets : [...entry.sockets];
    for (let i = 0; i < sockets.length; i++) this.sessions.score(sockets[i], out);
  }

  /** Live messages missed while NATS was away are read back from TIER_EVENTS. */
  private async watchReconnects(): Promise<void> {
    for await (const s of this.deps.nc.status()) {
      if (this.state !== "running") break;
      if (s.type !== "reconnect") continue;
      this.log.warn("NATS reconnected: leases re-announced; every feed connection catches up from TIER_EVENTS");
      this.interest.announceAll();
      for (const entry of [...this.registry.entries()]) for (const ws of [...entry.sockets]) this.sessions.resume(ws);
    }
  }

  private badMessage(what: string, member: number): void {
    if (this.badMessages++ % BAD_MESSAGE_LOG_EVERY === 0) this.log.warn(`bad ${what} message for member ${member}; ignored`);
  }
}
