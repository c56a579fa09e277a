// The HTTP side of GET /v1/feed: who is asking, from where to resume, in which format.
// Everything is decided before the upgrade, so a refused client gets a plain JSON error
// ({error: {code, message}}, like every other route) and no socket.

import { AuthError, authenticate, credentialOf } from "../auth.ts";
import type { GatewayOptions } from "../config.ts";
import { FEED_PROTOCOL_JSON, FEED_PROTOCOL_MSGPACK } from "../client/frames.ts";
import type { FeedFormat } from "./frames.ts";
import { type FeedSocketData, socketData } from "./socket.ts";

export interface FeedUpgrade {
  data: FeedSocketData;
  /** The subprotocol the response selects, if the client offered one we speak. */
  protocol: string | null;
}

export function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

const SINCE_RE = /^(0|[1-9]\d{0,15})$/;

/** Authenticates and validates a feed request: the socket's data, or the refusal to answer with. */
export async function parseFeedRequest(req: Request, options: GatewayOptions): Promise<FeedUpgrade | Response> {
  const url = new URL(req.url);
  let member: number;
  try {
    const principal = await authenticate(
      credentialOf(req.headers.get("authorization"), url.searchParams.get("token")),
      options.apiKeys,
      options.jwtSecret,
    );
    if (principal.kind !== "member") {
      return errorResponse(403, "forbidden", "the feed is opened with a member token; API keys cannot open it");
    }
    member = principal.member;
  } catch (err) {
    if (err instanceof AuthError) return errorResponse(err.status, err.code, err.message);
    throw err;
  }

  let since = -1;
  const rawSince = url.searchParams.get("since");
  if (rawSince !== null) {
    if (!SINCE_RE.test(rawSince) || !Number.isSafeInteger(Number(rawSince))) {
      return errorResponse(400, "bad_since", "since must be a non-negative integer: the seq of the last tier frame received");
    }
    since = Number(rawSince);
  }

  const offered = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((s) => s.trim());
  let format: FeedFormat = "json";
  let protocol: string | null = null;
  if (offered.includes(FEED_PROTOCOL_MSGPACK)) {
    format = "msgpack";
    protocol = FEED_PROTOCOL_MSGPACK;
  } else if (offered.includes(FEED_PROTOCOL_JSON)) {
    protocol = FEED_PROTOCOL_JSON;
  }
  return { data: socketData(member, format, since), protocol };
}
