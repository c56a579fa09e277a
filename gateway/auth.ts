// Who is calling: a member (JWT HS256, sub = member id, exp required) or an API key with
// scopes. Both arrive as `Authorization: Bearer <credential>` (or `?token=` on the feed);
// a credential that is a configured key is a key, anything else must be a valid member token.

import { verify } from "hono/jwt";
import { isMemberId } from "../proto/types.ts";
import type { Scope } from "./config.ts";

export type Principal = { kind: "member"; member: number } | { kind: "key"; scopes: ReadonlySet<Scope> };

export class AuthError extends Error {
  override readonly name = "AuthError";
  constructor(
    /** 401: no or bad credential; 403: valid, but not allowed. */
    readonly status: 401 | 403,
    readonly code: "unauthorized" | "forbidden",
    message: string,
  ) {
    super(message);
  }
}

export function credentialOf(authorization: string | null | undefined, queryToken?: string | null): string | null {
  if (authorization) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (m) return m[1];
  }
  return queryToken ?? null;
}

export async function authenticate(
  credential: string | null,
  apiKeys: ReadonlyMap<string, ReadonlySet<Scope>>,
  jwtSecret: string,
): Promise<Principal> {
  if (!credential) throw new AuthError(401, "unauthorized", "a member token or an API key is required");
  const scopes = apiKeys.get(credential);
  if (scopes) return { kind: "key", scopes };
  let payload: Record<string, unknown>;
  try {
    payload = (await verify(credential, jwtSecret, "HS256")) as Record<string, unknown>;
  } catch {
    // One message for every failure: a caller learns nothing about why, or about members.
    throw new AuthError(401, "unauthorized", "invalid or expired credential");
  }
  const member = Number(payload.sub);
  if (typeof payload.exp !== "number" || !isMemberId(member)) {
    throw new AuthError(401, "unauthorized", "invalid or expired credential");
  }
  return { kind: "member", member };
}

/** Allows a key with `scope`, or — when `member` is given — that member's own token. */
export function authorize(p: Principal, scope: Scope, member?: number): void {
  if (p.kind === "key") {
    if (p.scopes.has(scope) || p.scopes.has("admin")) return;
    throw new AuthError(403, "forbidden", `this API key lacks the "${scope}" scope`);
  }
  if (member !== undefined && p.member === member && scope === "read") return;
  throw new AuthError(403, "forbidden", "a member token may only read its own member");
}
