// Authenticator: API keys (remembered by the exact Authorization header that named them) and
// member tokens, without a server.

import { expect, test } from "bun:test";
import { sign } from "hono/jwt";
import { AuthError } from "../gateway/auth.ts";
import type { Scope } from "../gateway/config.ts";
import { Authenticator } from "../gateway/http/authenticator.ts";

const SECRET = "authenticator-test-secret-0123456789";
const apiKeys = new Map<string, ReadonlySet<Scope>>([
  ["read-key", new Set<Scope>(["read"])],
  ["ops-key", new Set<Scope>(["admin"])],
]);

async function refusal(p: unknown): Promise<number> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError);
    return (err as AuthError).status;
  }
  throw new Error("accepted");
}

test("a key is a key under any spelling of the header, every time; anything else is not remembered as one", async () => {
  const auth = new Authenticator({ apiKeys, jwtSecret: SECRET });
  for (let round = 0; round < 3; round++) {
    for (const header of ["Bearer read-key", "bearer read-key", "Bearer   read-key  "]) {
      const p = await auth.principal(header);
      expect(p).toEqual({ kind: "key", scopes: apiKeys.get("read-key")! });
    }
    expect(await auth.principal("Bearer ops-key")).toEqual({ kind: "key", scopes: apiKeys.get("ops-key")! });
    // Not keys, and never answered as one however often they come.
    expect(await refusal(auth.principal("Bearer read-key2"))).toBe(401);
    expect(await refusal(auth.principal("Bearerread-key"))).toBe(401);
    expect(await refusal(auth.principal("read-key"))).toBe(401);
    expect(await refusal(auth.principal(""))).toBe(401);
    expect(await refusal(auth.principal(null))).toBe(401);
  }
});

test("past the remembered headers' cap, keys still resolve and non-keys still fail", async () => {
  const auth = new Authenticator({ apiKeys, jwtSecret: SECRET });
  for (let i = 0; i < 1100; i++) {
    const header = `Bearer${" ".repeat(1 + (i % 40))}read-key${" ".repeat(Math.floor(i / 40))}`;
    expect(await auth.principal(header)).toEqual({ kind: "key", scopes: apiKeys.get("read-key")! });
  }
  expect(await refusal(auth.principal("Bearer no-such-key"))).toBe(401);
});

test("member tokens: a valid one is its member, an expired or foreign-signed one is refused", async () => {
  const auth = new Authenticator({ apiKeys, jwtSecret: SECRET });
  const now = Math.floor(Date.now() / 1000);
  const good = await sign({ sub: "42", exp: now + 600 }, SECRET, "HS256");
  expect(await auth.principal(`Bearer ${good}`)).toEqual({ kind: "member", member: 42 });
  expect(await auth.principal(`Bearer ${good}`)).toEqual({ kind: "member", member: 42 }); // remembered
  const expired = await sign({ sub: "42", exp: now - 5 }, SECRET, "HS256");
  expect(await refusal(auth.principal(`Bearer ${expired}`))).toBe(401);
  const foreign = await sign({ sub: "42", exp: now + 600 }, "another-secret-0123456789abcdef", "HS256");
  expect(await refusal(auth.principal(`Bearer ${foreign}`))).toBe(401);
});
