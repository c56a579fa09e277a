// Pipelined JetStream publishing: up to `inFlightMax` publishes awaiting their acks at once,
// in order on one connection (so JetStream stores each partition's messages in order).
// Explicit backpressure: the loop waits for an ack before exceeding the window.

import type { JetStreamClient } from "@nats-io/jetstream";
import { ordersSubject } from "../proto/names.ts";
import type { Schedule } from "./interleave.ts";

export interface PublishResult {
  ms: number;
  messages: number;
  duplicates: number;
}

/** Publishes every message of `schedule` to orders.<p>, each with a Nats-Msg-Id of `${idPrefix}.<p>.<k>`. */
export async function publishSchedule(
  js: JetStreamClient,
  schedule: Schedule,
  idPrefix: string,
  inFlightMax: number,
): Promise<PublishResult> {
  if (!Number.isInteger(inFlightMax) || inFlightMax < 1) throw new RangeError("inFlightMax must be ≥ 1");
  const subjects = Array.from(schedule.perPartition, (_, p) => ordersSubject(p));
  const sent = new Int32Array(schedule.perPartition.length);
  let inFlight = 0;
  let duplicates = 0;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const settle = () => {
    inFlight--;
    const w = wake;
    wake = null;
    w?.();
  };
  const waitForRoom = (limit: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      if (inFlight < limit) (wake = null), resolve(); // an ack landed before we got here
    });
  const t = performance.now();
  for (let i = 0; i < schedule.bodies.length; i++) {
    while (inFlight >= inFlightMax && failure === null) await waitForRoom(inFlightMax);
    if (failure !== null) break;
    const p = schedule.partitions[i];
    inFlight++;
    js.publish(subjects[p], schedule.bodies[i], { msgID: `${idPrefix}.${p}.${sent[p]++}` }).then(
      (ack) => {
        if (ack.duplicate) duplicates++;
        settle();
      },
      (err: unknown) => {
        failure ??= err;
        settle();
      },
    );
  }
  while (inFlight > 0) await waitForRoom(1);
  if (failure !== null) throw failure;
  return { ms: performance.now() - t, messages: schedule.bodies.length, duplicates };
}
