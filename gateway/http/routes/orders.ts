// POST /v1/orders — `ingest`. Validate the whole batch, publish it, answer 202 once JetStream
// acknowledged every message; 400 with per-item errors and nothing published otherwise.

import { authorize } from "../../auth.ts";
import type { Authenticator } from "../authenticator.ts";
import { readBody } from "../body.ts";
import type { HttpDeps } from "../deps.ts";
import { jsonResponse } from "../errors.ts";
import { FUTURE_SKEW_MS_DEFAULT, parseOrdersBody } from "../order-batch.ts";
import { idempotencyKeyOf, planMessages, publishFailed, publishMessages } from "../order-publisher.ts";
import type { RouteHandler } from "../observed.ts";

/** 10 000 orders of JSON are ~1.5 MB; msgpack ~0.6 MB. */
export const ORDERS_BODY_BYTES_MAX = 4 * 1024 * 1024;

export function ordersHandler(deps: HttpDeps, auth: Authenticator): RouteHandler {
  const now = deps.now ?? Date.now;
  return async (c) => {
    authorize(await auth.principal(c.req.header("authorization")), "ingest");
    const { key, fromClient } = idempotencyKeyOf(c.req.header("idempotency-key"));
    const body = await readBody(c.req.raw, ORDERS_BODY_BYTES_MAX);
    const orders = parseOrdersBody(c.req.header("content-type"), body, {
      lines: deps.options.lines,
      nowMs: now(),
      futureSkewMs: FUTURE_SKEW_MS_DEFAULT,
    });
    const messages = planMessages(orders, deps.options.partitions, key);
    const result = await publishMessages(deps.js, messages);
    // Counted as stored, also when the request fails: a retry's duplicates are not counted again.
    deps.metrics.ordersIngested.inc(result.stored);
    if (result.failed > 0) throw publishFailed(result, messages.length, fromClient);
    return jsonResponse(202, { accepted: orders.length });
  };
}
