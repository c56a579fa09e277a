// Reads every message of a filtered subject up to a stream sequence, in order, through an
// OrderedPull (an ephemeral consumer, deleted when done: nothing durable is left on the server).
//
// Not nats.js's ordered consumer: its consume({max_bytes}) stalls for ~30 s at a time on a long
// subject of small messages (50 000 of them: stuck ~40 s at a stretch; see ordered-pull.ts),
// and pulling by count alone would leave the bytes in flight unbounded (ORDERS messages go up
// to the server's max_payload).

import type { JetStreamClient } from "@nats-io/jetstream";
import { connectionOf, OrderedPull, type PulledMessage, type PullLogger } from "./ordered-pull.ts";

/** Bytes pulled ahead of the reader, at most (never less than one message of max_payload). */
const READ_AHEAD_BYTES = 4 * 1024 * 1024;
const quiet: PullLogger = { info() {}, warn() {} };

/** Every message on `filter` with seq ≤ lastSeq (the stream's last sequence, read before). */
export async function* readSubject(js: JetStreamClient, stream: string, filter: string, lastSeq: number): AsyncGenerator<PulledMessage> {
  if (lastSeq === 0) return;
  const nc = connectionOf(js);
  const maxPayload = nc.info?.max_payload ?? 1024 * 1024;
  const pull = new OrderedPull({
    nc,
    jsm: await js.jetstreamManager(false),
    apiPrefix: js.apiPrefix,
    stream,
    filter,
    maxBytes: Math.max(READ_AHEAD_BYTES, maxPayload + 64 * 1024),
    log: quiet,
    label: `reading ${filter}`,
  });
  try {
    if ((await pull.start(1)).num_pending === 0) return;
    for await (const m of pull) {
      if (m.seq > lastSeq) break;
      yield m;
      if (m.pending === 0 || m.seq === lastSeq) break;
    }
  } finally {
    await pull.close();
  }
}
