// One connection from hello to live, without a gap or a duplicate at the seam.
//
// 1. open: the member's live subjects are subscribed and its interest announced
//    (registry.attach; hello waits for the announcement to go out) BEFORE the member view is
//    requested, on the same NATS connection, so every change stored after the view was read
//    also arrives live (the engine publishes live only for members it heard are watched).
//    Live tier frames that arrive meanwhile are kept in the connection's Seam (bounded:
//    SEAM_FRAMES_MAX, past it the client is told 1013).
// 2. hello: {tier, score} from the view; hello.seq = `since` when the client resumes from a
//    position the view covers (since ≤ view.seq), else view.seq. The member view's seq
//    covers every change it does not reflect (engine/member-view.ts), so without `since`
//    nothing stored is older than the view and unsent.
// 3. replay (with since < view.seq): TIER_EVENTS is read from lastSeq + 1 until there is no
//    next change. Everything stored before the subscription is found there; everything
//    stored after it is in the seam — each change is in one or both.
// 4. drain: seam frames are sent in order, only those with seq > lastSeq; lastSeq rises with
//    every tier frame sent, so a connection never sees a seq twice or out of order.
//
// The same catch-up runs whenever a live tier frame does not continue the chain (its `from`
// is not the tier the previous frame went `to`): a live message was lost (engine crash
// between store and publish, a NATS reconnect), and TIER_EVENTS fills the hole before the
// frame goes out. A catch-up always ends: each round delivers at least the frame that
// triggered it, which is stored.

import type { Logger } from "../../engine/log.ts";
import { TIERS } from "../../proto/types.ts";
import type { EngineClient, MemberView } from "../engine-client.ts";
import type { HelloFrame, TierFrame } from "../client/frames.ts";
import { OutFrame } from "./frames.ts";
import type { MemberEntry, MemberRegistry } from "./registry.ts";
import type { ScoreWindow } from "./score-window.ts";
import { type FeedSocket, Seam } from "./socket.ts";
import type { TierLog } from "./tier-log.ts";
import type { CloseReason, SocketWriter } from "./writer.ts";

/** Live tier frames one connection may hold while it is not live yet. */
export const SEAM_FRAMES_MAX = 512;

export interface SessionDeps {
  engines: EngineClient;
  /** Resolves once the interest in every member attached so far has been announced (interest.ts). */
  announced: () => Promise<void>;
  registry: MemberRegistry;
  writer: SocketWriter;
  tierLog: TierLog;
  scores: ScoreWindow;
  cut: (ws: FeedSocket, code: number, reason: CloseReason) => void;
  log: Logger;
  /** The connection went live (hello, replay and seam are behind it). */
  onLive: (ws: FeedSocket) => void;
  /** A tier frame went out on the connection. */
  onTierSent: (ws: FeedSocket, from: string, to: string) => void;
}

const ENGINE_ERROR_LOG_EVERY = 1000;
const TIER_NAMES: ReadonlySet<string> = new Set(TIERS);

/** The engine's answer crosses a boundary: checked once before a hello is built from it. */
function isView(v: MemberView, member: number): boolean {
  return (
    v?.member === member &&
    TIER_NAMES.has(v.tier) &&
    Number.isSafeInteger(v.score) &&
    Number.isSafeInteger(v.seq) &&
    v.seq >= 0
  );
}

export class FeedSessions {
  private engineErrors = 0;

  constructor(private readonly deps: SessionDeps) {}

  open(ws: FeedSocket): void {
    const d = ws.data;
    d.phase = "opening";
    d.seam = new Seam();
    d.entry = this.deps.registry.attach(ws);
    void this.hello(ws);
  }

  /** A live tier frame of the socket's member (the hub fans one frame out to all). */
  tier(ws: FeedSocket, frame: OutFrame<TierFrame>): void {
    const d = ws.data;
    switch (d.phase) {
      case "opening":
      case "replaying":
        return this.hold(ws, frame);
      case "live":
        if (frame.frame.seq <= d.lastSeq) return; // replayed already
        if (frame.frame.from === d.lastTier) return this.deliver(ws, frame);
        // A hole before this frame: catch up from TIER_EVENTS first.
        d.phase = "replaying";
        d.seam = new Seam();
        d.seam.frames.push(frame);
        void this.catchUp(ws, false);
        return;
      case "closed":
        return;
    }
  }

  /** A score frame of the socket's member, already coalesced for the member. */
  score(ws: FeedSocket, frame: OutFrame): void {
    const d = ws.data;
    if (d.phase === "live") this.deps.writer.send(ws, frame);
    // Before hello the tick is older than the view the hello will carry; while replaying it
    // is newer, so the member's latest score goes out again once the connection is live.
    else if (d.phase === "replaying") d.seam!.scoreMissed = true;
  }

  /** After a NATS reconnect live messages may have been lost: every live connection catches up. */
  resume(ws: FeedSocket): void {
    const d = ws.data;
    if (d.phase !== "live") return; // the others are catching up already
    d.phase = "replaying";
    d.seam = new Seam();
    void this.catchUp(ws, true);
  }

  private async hello(ws: FeedSocket): Promise<void> {
    const d = ws.data;
    let view: MemberView;
    try {
      // The engine must hear that the member is watched before it answers the view: from then
      // on it publishes the member's tier changes live (engine/live-tiers.ts).
      await this.deps.announced();
      if (d.phase !== "opening") return;
      view = await this.deps.engines.memberView(d.member);
      if (!isView(view, d.member)) throw new Error("the engine's member view is malformed");
    } catch (err) {
      // No engine owns the member's partition right now (or it answered nonsense); the
      // client retries with backoff.
      if (this.engineErrors++ % ENGINE_ERROR_LOG_EVERY === 0) {
        this.deps.log.warn(`member view for a feed failed (${this.engineErrors} so far): ${(err as Error).message}`);
      }
      return this.deps.cut(ws, 1011, "engine_unavailable");
    }
    if (d.phase !== "opening") return;
    const resumes = d.since >= 0 && d.since <= view.seq;
    const hello: HelloFrame = {
      type: "hello",
      member: d.member,
      tier: view.tier as HelloFrame["tier"],
      score: view.score,
      seq: resumes ? d.since : view.seq,
    };
    this.deps.writer.send(ws, new OutFrame(hello));
    d.lastSeq = hello.seq;
    d.lastTier = view.tier;
    d.phase = "replaying";
    await this.catchUp(ws, resumes && d.since < view.seq);
  }

  /** Replays (when asked) and drains the seam until the connection can go live. */
  private async catchUp(ws: FeedSocket, replayFirst: boolean): Promise<void> {
    const d = ws.data;
    if (replayFirst && !(await this.replay(ws))) return;
    const seam = d.seam!;
    /** Seam frames up to this seq may go out without the chain check: a replay ran for them. */
    let checkedThrough = 0;
    for (let i = 0; i < seam.frames.length; ) {
      const f = seam.frames[i];
      if (f.frame.seq <= d.lastSeq) {
        i++;
        continue;
      }
      if (f.frame.from !== d.lastTier && f.frame.seq > checkedThrough) {
        checkedThrough = f.frame.seq;
        if (!(await this.replay(ws))) return;
        continue; // the same frame again: sent by the replay, or sent now as it is
      }
      this.deliver(ws, f);
      i++;
    }
    if (d.phase !== "replaying") return;
    d.phase = "live";
    d.seam = null;
    if (seam.scoreMissed) this.deps.scores.refresh(d.entry as MemberEntry);
    this.deps.onLive(ws);
  }

  /** Sends the stored changes after lastSeq; false when the connection closed meanwhile. */
  private async replay(ws: FeedSocket): Promise<boolean> {
    const d = ws.data;
    const entry = d.entry as MemberEntry;
    for (;;) {
      let frame: TierFrame | null;
      try {
        frame = await this.deps.tierLog.next(d.member, entry.partition, d.lastSeq + 1);
      } catch {
        this.deps.cut(ws, 1011, "replay_failed");
        return false;
      }
      if (d.phase !== "replaying") return false;
      if (frame === null) return true;
      this.deliver(ws, new OutFrame(frame));
    }
  }

  private hold(ws: FeedSocket, frame: OutFrame<TierFrame>): void {
    const seam = ws.data.seam!;
    if (seam.frames.length >= SEAM_FRAMES_MAX) return this.deps.cut(ws, 1013, "seam_overflow");
    seam.frames.push(frame);
  }

  private deliver(ws: FeedSocket, f: OutFrame<TierFrame>): void {
    const d = ws.data;
    d.lastSeq = f.frame.seq;
    d.lastTier = f.frame.to;
    this.deps.writer.send(ws, f);
    this.deps.onTierSent(ws, f.frame.from, f.frame.to);
  }
}
