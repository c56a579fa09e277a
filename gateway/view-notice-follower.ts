// Follows the engines' view notices (proto/view-notice.ts) into the member cache: every
// partition's notices, a sweep for silent chains, and a reset whenever NATS goes away (notices
// published meanwhile are lost, so nothing cached can be vouched for).

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { NOTICE_HEARTBEAT_MS, NOTICE_SUBJECT, readNotices, type ViewNotice } from "../proto/view-notice.ts";
import type { Logger } from "../engine/log.ts";
import type { MemberCache } from "./member-cache.ts";

const BAD_NOTICE_LOG_EVERY = 1000;

export class ViewNoticeFollower {
  private sub: Subscription | null = null;
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private status: (AsyncIterable<{ type: string }> & { stop?: () => void }) | null = null;
  badNotices = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly cache: MemberCache,
    private readonly log: Logger,
  ) {}

  async start(): Promise<void> {
    const apply = (n: ViewNotice) => this.cache.notice(n);
    this.sub = this.nc.subscribe(NOTICE_SUBJECT, {
      callback: (err, msg) => {
        if (err) return;
        const bad = readNotices(msg.data, apply);
        // The notices after a bad one are lost to this gateway: their partitions' next notices show the gap.
        if (bad !== null && this.badNotices++ % BAD_NOTICE_LOG_EVERY === 0) this.log.warn(`bad view notice message: ${bad}; the rest of it ignored`);
      },
    });
    this.sweepTimer = setInterval(() => this.cache.sweep(), NOTICE_HEARTBEAT_MS / 2);
    void this.watchStatus();
    await this.nc.flush();
  }

  stop(): void {
    this.sub?.unsubscribe();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.status?.stop?.();
  }

  private async watchStatus(): Promise<void> {
    this.status = this.nc.status() as AsyncIterable<{ type: string }> & { stop?: () => void };
    for await (const s of this.status) {
      if (s.type === "disconnect" || s.type === "reconnect") this.cache.reset();
    }
  }
}
