// What the connected members were told about one benefit: each member's first `benefit` frame
// (its open → frame latency goes to the timeline) and `benefit_closed` frames with their
// reasons, pulled from the feed clients' process a few times a second.

import type { FeedClients } from "./feed-clients.ts";
import type { Timeline } from "./timeline.ts";

const PULL_MS = 100;

export class BenefitFrames {
  /** member → arrival (our wall clock, ms) of its first `benefit` frame. */
  readonly told = new Map<number, number>();
  /** `benefit` frames beyond a member's first. */
  repeated = 0;
  /** member → reason of its first `benefit_closed` frame. */
  readonly closed = new Map<number, string>();
  readonly closedByReason: Record<string, number> = {};
  pullErrors = 0;
  private following: Promise<void> | null = null;
  private stopped = false;

  constructor(
    private readonly feed: FeedClients,
    private readonly benefit: string,
    private readonly timeline: Timeline,
    /** The benefit's startsAt (our wall clock, ms) and where that falls on the timeline. */
    private readonly opensAtWallMs: number,
    private readonly opensAtTimelineMs: number,
  ) {}

  follow(): void {
    this.following ??= (async () => {
      while (!this.stopped) {
        await this.pull();
        await Bun.sleep(PULL_MS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.following;
    await this.pull();
  }

  /** Waits until `n` members were told (or closed, per `what`), or `ms` passed; whether they were. */
  async waitFor(what: "told" | "closed", n: number, ms: number): Promise<boolean> {
    const until = performance.now() + ms;
    while (this[what].size < n && performance.now() < until) await Bun.sleep(PULL_MS / 2);
    return this[what].size >= n;
  }

  private async pull(): Promise<void> {
    try {
      const b = await this.feed.benefitTake(this.benefit);
      for (let i = 0; i + 1 < b.told.length; i += 2) {
        const member = b.told[i];
        if (this.told.has(member)) {
          this.repeated++;
          continue;
        }
        this.told.set(member, b.told[i + 1]);
        this.timeline.latency("open", this.opensAtTimelineMs, b.told[i + 1] - this.opensAtWallMs);
      }
      for (const [member, , reason] of b.closed) {
        this.closedByReason[reason] = (this.closedByReason[reason] ?? 0) + 1;
        if (!this.closed.has(member)) this.closed.set(member, reason);
      }
    } catch {
      this.pullErrors++;
    }
  }
}
