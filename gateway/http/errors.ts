// HTTP errors: one class for the gateway's own refusals, and one place that turns anything
// thrown by a route into the contract's `{error: {code, message}}` with a fitting status.
// Unknown errors become 500 `internal` with a fixed message: stacks and internals stay in the log.

import { BadInputError } from "../../proto/errors.ts";
import { AuthError } from "../auth.ts";
import { EngineError } from "../engine-client.ts";

export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra fields of the error object (e.g. `items` of invalid orders). */
    readonly details?: Record<string, unknown>,
    /** Extra response headers (e.g. `Allow` on 405). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

/**
 * Every 401 has one body, whatever went wrong (no credential, a bad signature, an expired
 * token, an unknown key): a caller learns nothing from the difference.
 */
export const UNAUTHORIZED_MESSAGE = "a valid member token or API key is required (Authorization: Bearer …)";

export const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" } as const;

export function jsonResponse(status: number, body: unknown, headers?: Record<string, string>): Response {
  return new Response(JSON.stringify(body), { status, headers: headers ? { ...JSON_HEADERS, ...headers } : JSON_HEADERS });
}

export function errorResponse(status: number, code: string, message: string, details?: Record<string, unknown>, headers?: Record<string, string>): Response {
  return jsonResponse(status, { error: { code, message, ...details } }, headers);
}

/** The response for anything a route threw; `onInternal` sees what the caller must not. */
export function responseOfError(err: unknown, onInternal: (err: unknown) => void): Response {
  if (err instanceof AuthError) {
    if (err.status === 401) return errorResponse(401, "unauthorized", UNAUTHORIZED_MESSAGE, undefined, { "www-authenticate": "Bearer" });
    return errorResponse(403, "forbidden", err.message);
  }
  if (err instanceof HttpError) return errorResponse(err.status, err.code, err.message, err.details, err.headers);
  if (err instanceof BadInputError) return errorResponse(err.code === "batch_too_large" ? 413 : 400, err.code, err.message);
  if (err instanceof EngineError) {
    if (err.status >= 500 && err.status !== 503) onInternal(err);
    return errorResponse(validStatus(err.status), err.code, err.message);
  }
  onInternal(err);
  return errorResponse(500, "internal", "internal error; the gateway log has the details");
}

/** An engine's status as an HTTP status (the micro service may answer any number). */
function validStatus(status: number): number {
  return Number.isInteger(status) && status >= 400 && status <= 599 ? status : 502;
}
