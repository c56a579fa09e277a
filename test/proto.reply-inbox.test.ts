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

  test("resendAll sends every kept message still waiting once more under its own reply subject; the first reply settles it, a later one is dropped", async () => {
    const inbox = new ReplyInbox(nc, 30_000, { keepForResend: true });
    const seen: string[] = [];
    const held: { respond: (d: string) => boolean; reply: string }[] = [];
    // Holds every copy without answering, until the test answers them.
    const sub = nc.subscribe("hold", {
      callback: (_err, msg) => {
        seen.push(new TextDecoder().decode(msg.data));
        held.push({ respond: (d) => msg.respond(d), reply: msg.reply ?? "" });
      },
    });
    await nc.flush();
    const answers: string[] = [];
    for (const body of ["a", "b"]) inbox.send("hold", body, undefined, (msg) => answers.push(new TextDecoder().decode(msg.data)), () => answers.push("failed"));
    await nc.flush();
    await Bun.sleep(50);
    expect(inbox.resendAll()).toBe(2);
    await nc.flush();
    await Bun.sleep(50);
    expect(seen).toEqual(["a", "b", "a", "b"]);
    expect(held[2].reply).toBe(held[0].reply); // the same reply subject: one waiter per message
    held[2].respond("second copy of a");
    held[0].respond("first copy of a");
    held[1].respond("b");
    await nc.flush();
    await Bun.sleep(50);
    expect(answers).toEqual(["second copy of a", "b"]);
    expect(inbox.size).toBe(0);
    expect(inbox.resendAll()).toBe(0);
    // Without keepForResend nothing is kept, so nothing is sent again.
    const plain = new ReplyInbox(nc, 30_000);
    plain.send("hold", "c", undefined, () => {}, () => {});
    expect(plain.resendAll()).toBe(0);
    plain.close();
    inbox.close();
    sub.unsubscribe();
  });
});
