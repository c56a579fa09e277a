// Reads every message of a filtered subject up to a stream sequence, in order, through an
// ordered consumer (nothing durable is left on the server).

import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";

/** Every message on `filter` with seq ≤ lastSeq (the stream's last sequence, read before). */
export async function* readSubject(js: JetStreamClient, stream: string, filter: string, lastSeq: number): AsyncGenerator<JsMsg> {
  if (lastSeq === 0) return;
  const c = await js.consumers.get(stream, { filter_subjects: filter });
  if ((await c.info(true)).num_pending === 0) return;
  const iter = await c.consume({ max_bytes: 4 * 1024 * 1024 });
  try {
    for await (const m of iter) {
      if (m.seq > lastSeq) break;
      yield m;
      if (m.info.pending === 0 || m.seq === lastSeq) break;
    }
  } finally {
    await iter.close();
  }
}
