// LiveTiers: which stored tier changes of one partition are published live (live.tier.<p>.<m>).
//
// Only the members some gateway watches need the live copy; every change is in TIER_EVENTS
// anyway. A live publish for a member nobody watches cost the engine ~1.5 µs and nats-server
// ~0.6 µs per change (a first run of 2 M orders: 0.48–0.51 → 0.54–0.58 M orders/s without
// them), and at a billion members almost nobody is connected at any moment.
//
// A change must still reach every connection that holds the member, so the gate errs open:
// - A member is watched from the interest message that announces it until long after the
//   last renewal: at least TIER_LEASE_MIN_MS, whatever the gateway's own lease. A gateway's
//   `drop` does not close it (another gateway may still hold the member; the leases carry no
//   gateway name), only expiry does.
// - A gateway announces a member before it asks for the member's view, on the same
//   connection (gateway/feed/session.ts), and the engine reads both on one connection, in
//   order: by the time the view is answered the member is watched, and every change stored
//   after that is published live; every change stored before is covered by the view's seq.
// - A partition this engine just took (start, hand-off, takeover) publishes every change
//   live until `graceMs` (10 s) after its interest subscription opened: the gateways
//   re-announce what they watch at once when asked (resync), and renew everything every
//   leaseMs / 3 (10 s by default) whatever happens. A gateway that was disconnected then
//   re-announces on reconnect and catches every connection up from TIER_EVENTS.
// What is left: a change stored while the engine has not heard a gateway's re-announcement
// (one that stalled past the grace, or in the instant between a reconnected gateway's
// catch-up read and its announcement arriving) reaches that gateway's connections with the
// member's next change (the gap fill, gateway/feed/session.ts) or at the client's next resume.

import { LeaseSet } from "./state/lease-set.ts";

/** A watched member stays watched this long after its last announcement, at least. */
export const TIER_LEASE_MIN_MS = 5 * 60_000;
/** How long a partition publishes every change live after its interest subscription opened. */
export const LIVE_TIER_GRACE_MS = 10_000;

export class LiveTiers {
  readonly leases = new LeaseSet();
  /** Every change goes out live until then: from the start until `opened` says otherwise. */
  private openUntilMs = Number.POSITIVE_INFINITY;

  constructor(
    private readonly now: () => number,
    private readonly leaseMinMs = TIER_LEASE_MIN_MS,
  ) {}

  /** The partition's interest subscription is open: every change stays live for `graceMs` more. */
  opened(graceMs: number): void {
    this.openUntilMs = this.now() + graceMs;
  }

  /** A gateway announced `member` with a lease of `leaseMs`. */
  watch(member: number, leaseMs: number, nowMs: number): void {
    this.leases.renew(member, nowMs + Math.max(leaseMs, this.leaseMinMs));
  }

  /** Whether a stored change of `member` is published live. */
  wants(member: number): boolean {
    return this.leases.has(member) || this.now() < this.openUntilMs;
  }
}
