// wireHeaders: header blocks printed once, published through nc.publish to a real server —
// JetStream must read them as it reads nats.js's own (the message id dedups; the rest is kept).

import { describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { wireHeaders } from "../proto/wire-headers.ts";
import { useNatsServer } from "./harness/nats.ts";

describe("wireHeaders", () => {
  const nats = useNatsServer();

  test("JetStream stores the headers, and a repeated Nats-Msg-Id is a duplicate", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "WIRE", subjects: ["wire.>"] });
      const replies: string[] = [];
      for (let i = 0; i < 2; i++) {
        const reply = await nc.request("wire.a", "body", {
          headers: wireHeaders([
            ["Nats-Msg-Id", "t.1.42.0"],
            ["Tierstream-Pos", "42.0"],
          ]),
          timeout: 2000,
        });
        replies.push(reply.string());
      }
      expect(JSON.parse(replies[0])).toMatchObject({ stream: "WIRE", seq: 1 });
      expect(JSON.parse(replies[1])).toMatchObject({ stream: "WIRE", seq: 1, duplicate: true });
      const m = await jetstream(nc).streams.get("WIRE").then((s) => s.getMessage({ seq: 1 }));
      expect(m!.header!.get("Tierstream-Pos")).toBe("42.0");
      expect(m!.header!.get("Nats-Msg-Id")).toBe("t.1.42.0");
      expect(m!.string()).toBe("body");
    } finally {
      await nc.close();
    }
  });

  test("a line break or a colon in a name is refused, not written", () => {
    expect(() => wireHeaders([["Tierstream-Pos", "1\r\nX: y"]])).toThrow(RangeError);
    expect(() => wireHeaders([["A:B", "v"]])).toThrow(RangeError);
    expect(new TextDecoder().decode((wireHeaders([["K", "v"]]) as unknown as { encode(): Uint8Array }).encode())).toBe("NATS/1.0\r\nK: v\r\n\r\n");
  });
});
