// The contract's streams as ensureStreams makes them, and TIER_EVENTS' RePublish: the live
// tier feed is nats-server republishing each stored change, so these check the server does
// what the gateways rely on (the stored body, its seq, nothing for a duplicate).

import { describe, expect, test } from "bun:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, type Msg } from "@nats-io/transport-node";
import { HEADER_MSG_ID, HEADER_SEQUENCE, liveTierSubject, STREAM_TIER_EVENTS, tierSubject, TIER_REPUBLISH } from "../proto/names.ts";
import { ensureStreams, streamConfigs } from "../proto/streams.ts";
import { useNatsServer } from "./harness/nats.ts";

describe("ensureStreams and the live tier feed", () => {
  const nats = useNatsServer();

  test("TIER_EVENTS republishes each stored change on live.tier.<p>.<member> with its seq, and no duplicate", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureStreams(jsm);
      const live: Msg[] = [];
      nc.subscribe(liveTierSubject(7, "*"), { callback: (_e, m) => void live.push(m) });
      await nc.flush();
      const js = jetstream(nc);
      const body = '{"member":42,"from":"bronze","to":"silver","score":200,"ts":1,"cause":"o1"}';
      const h = () => {
        const hs = headers();
        hs.set(HEADER_MSG_ID, "t.7.1.0");
        return hs;
      };
      const first = await js.publish(tierSubject(7, 42), body, { headers: h() });
      const again = await js.publish(tierSubject(7, 42), body, { headers: h() });
      expect(again.duplicate).toBe(true);
      const other = await js.publish(tierSubject(7, 43), body.replace("42", "43"));
      await nc.flush();
      for (let i = 0; i < 100 && live.length < 2; i++) await Bun.sleep(10);
      await Bun.sleep(50); // a duplicate's copy, if one came, would be here by now
      expect(live.map((m) => [m.subject, m.headers?.get(HEADER_SEQUENCE), m.string()])).toEqual([
        [liveTierSubject(7, 42), String(first.seq), body],
        [liveTierSubject(7, 43), String(other.seq), body.replace("42", "43")],
      ]);
    } finally {
      await nc.close();
    }
  });

  test("a TIER_EVENTS made without the RePublish gets it where the server allows, and says so where not; nothing it holds is lost", async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(STREAM_TIER_EVENTS).catch(() => {});
      const { republish: _, ...bare } = streamConfigs().find((c) => c.name === STREAM_TIER_EVENTS)!;
      await jsm.streams.add(bare);
      const kept = await jetstream(nc).publish(tierSubject(1, 5), "{}");
      const { tierRepublish } = await ensureStreams(jsm);
      const info = await jsm.streams.info(STREAM_TIER_EVENTS);
      // nats-server 2.9 refuses to change a stream's RePublish; 2.10 and later add it.
      if (tierRepublish) expect(info.config.republish).toMatchObject(TIER_REPUBLISH);
      else expect(info.config.republish ?? null).toBeNull();
      expect(info.state.last_seq).toBe(kept.seq);
      expect(info.state.messages).toBe(1);
      expect(await ensureStreams(jsm)).toEqual({ tierRepublish });
      expect((await jsm.streams.info(STREAM_TIER_EVENTS)).config).toEqual(info.config);

      // A fresh one has it, and says so.
      await jsm.streams.delete(STREAM_TIER_EVENTS);
      expect(await ensureStreams(jsm)).toEqual({ tierRepublish: true });
      expect((await jsm.streams.info(STREAM_TIER_EVENTS)).config.republish).toMatchObject(TIER_REPUBLISH);
    } finally {
      await nc.close();
    }
  });
});
