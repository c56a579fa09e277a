import { describe, expect, test } from "bun:test";
import { pubAckSeq, readPubAck } from "../proto/pub-ack.ts";

describe("pubAckSeq", () => {
  test("a PubAck gives its stored sequence, a duplicate's too", () => {
    expect(pubAckSeq('{"stream":"TIER_EVENTS","seq":42}')).toBe(42);
    expect(pubAckSeq('{"stream":"TIER_EVENTS","seq":9007199254740991,"duplicate":true}')).toBe(9007199254740991);
    expect(pubAckSeq('{"stream":"ORDERS", "domain":"hub","seq":7}')).toBe(7);
  });

  test("a refusal, an empty reply or a broken one is −1", () => {
    expect(pubAckSeq('{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"},"stream":"ORDERS","seq":0}')).toBe(-1);
    expect(pubAckSeq("")).toBe(-1);
    expect(pubAckSeq('{"stream":"ORDERS"}')).toBe(-1);
    expect(pubAckSeq('{"stream":"ORDERS","seq":"x"}')).toBe(-1);
    expect(pubAckSeq('{"stream":"ORDERS","seq":0}')).toBe(-1);
  });

  test("readPubAck: a body gives its sequence, or an error that quotes it", () => {
    const body = (text: string) => new TextEncoder().encode(text);
    expect(readPubAck(body('{"stream":"TIER_EVENTS","seq":42}'))).toBe(42);
    const refused = readPubAck(body('{"error":{"code":503,"description":"maximum messages exceeded"},"stream":"ORDERS","seq":0}'));
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toBe('JetStream refused the publish: {"error":{"code":503,"description":"maximum messages exceeded"},"stream":"ORDERS","seq":0}');
    expect((readPubAck(new Uint8Array(0)) as Error).message).toBe("JetStream refused the publish: (no PubAck)");
  });
});
