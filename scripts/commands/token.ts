// `tierstream token`: mint a member token (JWT HS256) with TIERSTREAM_JWT_SECRET — for demos,
// tests and operators; production member tokens come from the platform's login.

import { sign } from "hono/jwt";
import { MEMBER_MAX } from "../../proto/types.ts";
import { type Command, numberFlag, parseFlags, UsageError } from "./command.ts";

export async function memberToken(member: number, secret: string, ttlSec: number, nowMs = Date.now()): Promise<string> {
  return sign({ sub: String(member), exp: Math.floor(nowMs / 1000) + ttlSec }, secret, "HS256");
}

export const tokenCommand: Command = {
  name: "token",
  summary: "mint a member token (JWT HS256) with TIERSTREAM_JWT_SECRET",
  help: `usage: tierstream token --member N [--ttl SECONDS]

Prints a member token for member N, signed with TIERSTREAM_JWT_SECRET, valid for --ttl seconds
(default 3600).`,

  async run(argv) {
    const { flags } = parseFlags(argv, { member: { type: "string" }, ttl: { type: "string" } });
    const secret = process.env.TIERSTREAM_JWT_SECRET ?? "";
    if (secret.length < 16) throw new UsageError("TIERSTREAM_JWT_SECRET must be set (at least 16 characters)");
    if (flags.member === undefined) throw new UsageError("token needs --member N");
    const member = numberFlag(flags, "member", 0, 1, MEMBER_MAX);
    if (!Number.isInteger(member)) throw new UsageError("--member must be an integer");
    console.log(await memberToken(member, secret, numberFlag(flags, "ttl", 3600, 1, 366 * 86400)));
    return 0;
  },
};
