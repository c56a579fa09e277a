// ReplyInbox against a real nats-server: every reply reaches its sender once, in the order the
// replies arrived, also when a slice holds some over to later turns of the event loop.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ReplyInbox } from "../proto/reply-inbox.ts";
import { useNatsServer } from "./harness/nats.ts";

describe("ReplyInbox", () => {
  const nats = useNatsServer();
  let nc: NatsConnection;

  beforeAll(async () => {
    nc = await connect({ servers: nats.url });
    // Echoes each request's body back to its reply subject, in arrival order.
    nc.subscribe("echo", {
      callback: (_err, msg) => {
        msg.respond(msg.data);
      },
    });
    await nc.flush();
  });
  afterAll(async () => {
    await nc?.close();
  });

  async function roundTrip(inbox: ReplyInbox, n: number): Promise<{ order: number[]; heldOverMax: number; turnsSeen: number }> {
    const order: number[] = [];
    let heldOverMax = 0;
    let turns = 0;
    let turnOpen = false;
    await new Promise<void>((resolve, reject) => {
      for (let i = 0; i < n; i++) {
        inbox.send(
          "echo",
          String(i),
          undefined,
          (msg) => {
            order.push(Number(new TextDecoder().decode(msg.data)));
            heldOverMax = Math.max(heldOverMax, inbox.heldOver);
            if (!turnOpen) {
              turnOpen = true;
              turns++;
              setImmediate(() => (turnOpen = false));
            }
            if (order.length === n) resolve();
          },
          reject,
        );
      }
    });
    return { order, heldOverMax, turnsSeen: turns };
  }

  test("without a slice, replies are handled as they arrive", async () => {
    const inbox = new ReplyInbox(nc, 10_000);
    const { order, heldOverMax } = await roundTrip(inbox, 5000);
    expect(order).toEqual([...Array(5000).keys()]);
    expect(heldOverMax).toBe(0);
    expect(inbox.size).toBe(0);
    inbox.close();
  });

  test("with a slice, a burst is spread over turns of the event loop and nothing is lost or reordered", async () => {
    const inbox = new ReplyInbox(nc, 10_000, { sliceMs: 0.05 });
    const { order, heldOverMax, turnsSeen } = await roundTrip(inbox, 5000);
    expect(order).toEqual([...Array(5000).keys()]);
    expect(heldOverMax).toBeGreaterThan(0);
    expect(turnsSeen).toBeGreaterThan(5);
    expect(inbox.size).toBe(0);
    expect(inbox.heldOver).toBe(0);
    inbox.close();
  });

  test("close fails what is still waiting, held-over replies included", async () => {
    const inbox = new ReplyInbox(nc, 10_000, { sliceMs: 0.01 });
    let replied = 0;
    const failed: string[] = [];
    for (let i = 0; i < 2000; i++) inbox.send("echo", String(i), undefined, () => replied++, (e) => failed.push(e.code));
    await nc.flush();
    await Bun.sleep(0);
    inbox.close();
    expect(replied + failed.length).toBe(2000);
    expect(failed.every((c) => c === "closed")).toBe(true);
    await Bun.sleep(50);
    expect(replied + failed.length).toBe(2000); // nothing answered twice after the close
  });
});
