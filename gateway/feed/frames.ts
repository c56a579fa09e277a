// Frames on the way out: each is built once per member (not per connection) and encoded at
// most once per wire format, however many connections of the member it goes to.
// Bodies from NATS cross a boundary, so they are validated here before anything is sent.

import { encode } from "@msgpack/msgpack";
import { TIERS } from "../../proto/types.ts";
import type { Frame, FrameType, ScoreFrame, Tier, TierFrame } from "../client/frames.ts";

export const FORMATS = ["json", "msgpack"] as const;
export type FeedFormat = (typeof FORMATS)[number];

export class OutFrame<F extends Frame = Frame> {
  private json: string | null = null;
  private packed: Uint8Array | null = null;

  constructor(readonly frame: F) {}

  get type(): FrameType {
    return this.frame.type;
  }

  /** The frame as sent: a string becomes a text frame, bytes a binary one. */
  encoded(format: FeedFormat): string | Uint8Array {
    if (format === "json") return (this.json ??= JSON.stringify(this.frame));
    return (this.packed ??= encode(this.frame));
  }
}

const decoder = new TextDecoder();
const TIER_NAMES: ReadonlySet<string> = new Set(TIERS);

const isInt = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v);
const isTier = (v: unknown): v is Tier => typeof v === "string" && TIER_NAMES.has(v);

function parseJson(data: Uint8Array): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(decoder.decode(data));
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** A tier change of `member`: the live body (which carries `seq`) or a stored one (seq given). */
export function tierFrameOf(body: Record<string, unknown> | null, member: number, seq: number): TierFrame | null {
  if (body === null || body.member !== member || !isTier(body.from) || !isTier(body.to)) return null;
  if (!isInt(body.score) || !isInt(body.ts) || typeof body.cause !== "string" || !isInt(seq) || seq < 1) return null;
  return { type: "tier", member, from: body.from, to: body.to, score: body.score, ts: body.ts, cause: body.cause, seq };
}

/** The engine's live tier message (live.tier.<p>.<member>), or null when it is not one. */
export function parseLiveTier(data: Uint8Array, member: number): TierFrame | null {
  const body = parseJson(data);
  if (body === null || body.type !== "tier") return null;
  return tierFrameOf(body, member, body.seq as number);
}

/** A stored TIER_EVENTS body with its stream sequence. */
export function parseStoredTier(data: Uint8Array, member: number, seq: number): TierFrame | null {
  return tierFrameOf(parseJson(data), member, seq);
}

/** The engine's score tick (score.<p>.<member>), or null when it is not one. */
export function parseScore(data: Uint8Array, member: number): ScoreFrame | null {
  const b = parseJson(data);
  if (b === null || b.type !== "score" || b.member !== member) return null;
  if (!isInt(b.score) || !isInt(b.delta) || !isInt(b.ts) || typeof b.line !== "string") return null;
  return { type: "score", member, score: b.score, delta: b.delta, line: b.line, ts: b.ts };
}
