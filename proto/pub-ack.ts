// The PubAck JetStream answers a publish with, read without JSON.parse (the engine reads one
// per tier change it stores): {"stream":"TIER_EVENTS","seq":42}, with "duplicate":true for a
// Nats-Msg-Id it holds already, or {"error":{…}} when it refused the message.

/** The stored sequence a PubAck's text gives; −1 when it is a refusal or not a PubAck. */
export function pubAckSeq(text: string): number {
  const at = text.indexOf('"seq":');
  if (at < 0 || text.includes('"error"')) return -1;
  const seq = Number.parseInt(text.slice(at + 6), 10);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : -1;
}

const decoder = new TextDecoder();

/** A PubAck message's body read: its stored sequence, or the error saying why it is not one. */
export function readPubAck(data: Uint8Array): number | Error {
  const text = decoder.decode(data);
  const seq = pubAckSeq(text);
  return seq > 0 ? seq : new Error(`JetStream refused the publish: ${text || "(no PubAck)"}`);
}
