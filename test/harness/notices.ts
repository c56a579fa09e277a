// View notices as a test hears them (proto/view-notice.ts): every notice of every message on
// tierstream.changed, copied out of its message, with the index of the message it came in.

import type { NatsConnection } from "@nats-io/transport-node";
import { NOTICE_SUBJECT, readNotices, type ViewNotice } from "../../proto/view-notice.ts";

export interface HeardNotice {
  /** Which message it came in (0, 1, … in arrival order). */
  message: number;
  partition: number;
  run: number;
  from: number;
  to: number;
  all: boolean;
  members: number[];
}

export function copyNotice(n: ViewNotice, message: number): HeardNotice {
  return { message, partition: n.partition, run: n.run, from: n.from, to: n.to, all: n.all, members: Array.from({ length: n.count }, (_, i) => n.member(i)) };
}

/** Subscribes on `nc` and appends every notice heard to the returned list; a bad message throws. */
export function listenToNotices(nc: NatsConnection): { heard: HeardNotice[]; messages: () => number } {
  const heard: HeardNotice[] = [];
  let messages = 0;
  nc.subscribe(NOTICE_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      const message = messages++;
      const bad = readNotices(msg.data, (n) => heard.push(copyNotice(n, message)));
      if (bad !== null) throw new Error(bad);
    },
  });
  return { heard, messages: () => messages };
}
