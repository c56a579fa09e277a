// BenefitPush: the feed's flash-benefit frames (CONTRACT.md "WebSocket feed", 3).
//
// - A benefit opens (its startsAt passes, or it is defined already open): every live
//   connection whose member's tier reaches minTier is checked with the owning engines (one
//   eligibility request per partition per 1000 members: claims and stock are theirs to
//   know), and the eligible get `benefit`.
// - A member upgrades into an open benefit: the check runs after the `tier` frame went out,
//   so `benefit` follows it. A connection that goes live while a benefit is open is checked
//   the same way (a member opening the app mid-drop sees it).
// - A benefit ends (endsAt) or sells out (the CLAIMS tally reaches inventory): connections
//   that were told get `benefit_closed` with reason "ended" or "sold_out"; one whose
//   definition was withdrawn or changed so that it no longer is open gets "withdrawn".
// Checks are batched for CHECK_BATCH_MS, so a reconnect storm costs a few requests per
// partition, not one per connection. Timers: one per benefit for its next transition.

import type { Logger } from "../../engine/log.ts";
import { type Benefit, type EligibilityReason, remainingOf, tierAtLeast } from "../../proto/benefit.ts";
import { TIERS, type Tier } from "../../proto/types.ts";
import type { GatewayBenefits } from "../benefits.ts";
import type { BenefitClosedFrame, BenefitFrame } from "../client/frames.ts";
import type { EngineClient } from "../engine-client.ts";
import { OutFrame } from "./frames.ts";
import type { MemberRegistry } from "./registry.ts";
import type { FeedSocket } from "./socket.ts";
import type { SocketWriter } from "./writer.ts";

const CHECK_BATCH_MS = 10;
const CHECK_MEMBERS_MAX = 1000;
/** setTimeout's limit; a transition further away is re-armed when this fires. */
const TIMER_MS_MAX = 2 ** 31 - 1;

interface OpenBenefit {
  benefit: Benefit;
  told: Set<FeedSocket>;
}

export interface BenefitPushDeps {
  benefits: GatewayBenefits;
  engines: EngineClient;
  registry: MemberRegistry;
  writer: SocketWriter;
  now: () => number;
  log: Logger;
}

const tierIndexOf = (tier: string): number => TIERS.indexOf(tier as Tier);

export class BenefitPush {
  private readonly open = new Map<string, OpenBenefit>();
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** Members to check per open benefit, flushed every CHECK_BATCH_MS. */
  private readonly pending = new Map<string, Set<number>>();
  private flushTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  checkFailures = 0;

  constructor(private readonly deps: BenefitPushDeps) {}

  start(): void {
    const { catalog, tally } = this.deps.benefits;
    catalog.onChange((id, b) => this.schedule(id, b));
    tally.onClaimed((id, claimed) => {
      const o = this.open.get(id);
      if (o && remainingOf(o.benefit, claimed) === 0) this.close(id, "sold_out");
    });
    for (const b of catalog.all()) this.schedule(b.id, b);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.open.clear();
    this.pending.clear();
  }

  /** A connection went live: check it against every open benefit its tier reaches. */
  onLive(ws: FeedSocket): void {
    for (const o of this.open.values()) this.consider(o, ws, tierIndexOf(ws.data.lastTier));
  }

  /** A tier frame went out on a live connection. */
  afterTier(ws: FeedSocket, from: string, to: string): void {
    const fromIndex = tierIndexOf(from);
    const toIndex = tierIndexOf(to);
    for (const o of this.open.values()) {
      if (!tierAtLeast(fromIndex, o.benefit.minTier)) this.consider(o, ws, toIndex);
    }
  }

  /** The connection is gone. */
  forget(ws: FeedSocket): void {
    for (const o of this.open.values()) o.told.delete(ws);
  }

  private consider(o: OpenBenefit, ws: FeedSocket, tierIndex: number): void {
    if (o.told.has(ws) || !tierAtLeast(tierIndex, o.benefit.minTier)) return;
    let set = this.pending.get(o.benefit.id);
    if (!set) this.pending.set(o.benefit.id, (set = new Set()));
    set.add(ws.data.member);
    this.flushTimer ??= setTimeout(() => void this.flush(), CHECK_BATCH_MS);
  }

  private schedule(id: string, b: Benefit | null): void {
    const t = this.timers.get(id);
    if (t) clearTimeout(t);
    this.timers.delete(id);
    const now = this.deps.now();
    const wasOpen = this.open.get(id);
    const soldOut = b !== null && remainingOf(b, this.deps.benefits.tally.claimed(id)) === 0;
    const isOpen = b !== null && now >= b.startsAt && now < b.endsAt && !soldOut;
    if (wasOpen && !isOpen) this.close(id, b === null ? "withdrawn" : now >= b.endsAt ? "ended" : soldOut ? "sold_out" : "withdrawn");
    if (b === null) return;
    if (isOpen) {
      if (wasOpen) wasOpen.benefit = b;
      else this.openNow(b);
    }
    const next = now < b.startsAt ? b.startsAt : now < b.endsAt ? b.endsAt : null;
    if (next !== null && !this.stopped) {
      this.timers.set(id, setTimeout(() => this.schedule(id, this.deps.benefits.catalog.get(id) ?? null), Math.min(TIMER_MS_MAX, next - now + 1)));
    }
  }

  private openNow(b: Benefit): void {
    const o: OpenBenefit = { benefit: b, told: new Set() };
    this.open.set(b.id, o);
    for (const entry of this.deps.registry.entries()) {
      for (const ws of entry.sockets) if (ws.data.phase === "live") this.consider(o, ws, tierIndexOf(ws.data.lastTier));
    }
  }

  private close(id: string, reason: "ended" | "sold_out" | "withdrawn"): void {
    const o = this.open.get(id);
    if (!o) return;
    this.open.delete(id);
    this.pending.delete(id);
    const frame: BenefitClosedFrame = { type: "benefit_closed", benefit: id, reason };
    const out = new OutFrame(frame);
    for (const ws of o.told) if (ws.data.phase !== "closed") this.deps.writer.send(ws, out);
  }

  private async flush(): Promise<void> {
    this.flushTimer = null;
    const work = [...this.pending];
    this.pending.clear();
    await Promise.all(
      work.flatMap(([id, members]) => {
        const list = [...members];
        const chunks: number[][] = [];
        for (let i = 0; i < list.length; i += CHECK_MEMBERS_MAX) chunks.push(list.slice(i, i + CHECK_MEMBERS_MAX));
        return chunks.map((chunk) => this.check(id, chunk));
      }),
    );
  }

  private async check(id: string, members: number[]): Promise<void> {
    let reasons: EligibilityReason[];
    try {
      reasons = await this.deps.engines.eligibilityReasons(id, members);
    } catch (err) {
      if (this.checkFailures++ % 100 === 0) this.deps.log.warn(`benefit ${id}: eligibility check failed (${this.checkFailures} so far): ${(err as Error).message}`);
      return;
    }
    const o = this.open.get(id);
    if (!o || this.stopped) return; // closed while we asked
    const frame: BenefitFrame = {
      type: "benefit",
      benefit: id,
      eligible: true,
      endsAt: o.benefit.endsAt,
      remaining: remainingOf(o.benefit, this.deps.benefits.tally.claimed(id)),
    };
    const out = new OutFrame(frame);
    for (let i = 0; i < members.length; i++) {
      if (reasons[i] !== "ok") continue;
      const entry = this.deps.registry.get(members[i]);
      if (!entry) continue;
      for (const ws of entry.sockets) {
        if (ws.data.phase !== "live" || o.told.has(ws)) continue;
        o.told.add(ws);
        this.deps.writer.send(ws, out);
      }
    }
  }
}
