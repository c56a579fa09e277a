// AckedPublisher across a NATS restart: a publish still waiting for its PubAck when the
// connection comes back is sent again at once (the server would drop a copy it has stored, by
// Nats-Msg-Id), not when its ack timeout runs out — a publish lost in flight must not stay
// missing for seconds while later ones are stored.

import { describe, expect, test } from "bun:test";
import { connect, headers } from "@nats-io/transport-node";
import { AckedPublisher } from "../engine/acked-publisher.ts";
import { eventually } from "./harness/engine.ts";
import { useNatsServer } from "./harness/nats.ts";

describe("AckedPublisher", () => {
  const nats = useNatsServer();

  test("after a reconnect, every publish still waiting goes again at once and is acknowledged long before its ack timeout", async () => {
    const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 50 });
    try {
      let answering = false;
      const copies: string[] = [];
      // Stands in for a stream whose ack was lost: nothing is answered until the restart.
      nc.subscribe("fake.stream", {
        callback: (_err, msg) => {
          copies.push(new TextDecoder().decode(msg.data));
          if (answering) msg.respond(JSON.stringify({ stream: "FAKE", seq: 7 }));
        },
      });
      await nc.flush();
      const publisher = new AckedPublisher(nc, 1024, 30_000);
      const stored: number[] = [];
      const failed: string[] = [];
      const h = headers();
      h.set("Nats-Msg-Id", "m-1");
      publisher.send("fake.stream", new TextEncoder().encode("one"), h, (seq) => stored.push(seq), (err) => failed.push(err.message));
      await eventually(() => copies.length === 1, "the first copy delivered");
      answering = true;
      const restartedAt = performance.now();
      await nats.server.restart();
      await eventually(() => stored.length === 1, "the publish acknowledged after the reconnect", 10_000);
      expect(performance.now() - restartedAt).toBeLessThan(10_000); // the ack timeout is 30 s
      expect(stored).toEqual([7]);
      expect(failed).toEqual([]);
      expect(copies).toEqual(["one", "one"]);
      expect(publisher.resentAfterReconnect).toBe(1);
      expect(publisher.inFlight).toBe(0);
      publisher.close();
    } finally {
      await nc.close();
    }
  }, 60_000);
});
