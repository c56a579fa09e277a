// A tier change's JSON fields, printed by hand: this runs for every tier change and its live
// copy, and JSON.stringify of an object (with the member id's digits printed once per use)
// was a visible share of the engine's CPU under load. Equal to the fields of
// JSON.stringify({member, from, to, score, ts, cause}) — test/engine.tier-change-json.test.ts.

import { TIERS } from "../proto/types.ts";
import type { Change } from "./apply-message.ts";

/** `"member":…,"from":…,"to":…,"score":…,"ts":…,"cause":…`, without braces, for the stored change and the live frame. */
export function tierChangeFields(c: Change, member: string = String(c.member)): string {
  return `"member":${member},"from":"${TIERS[c.from]}","to":"${TIERS[c.to]}","score":${c.score},"ts":${c.ts},"cause":${JSON.stringify(c.cause)}`;
}
