// Engine counters: plain numbers bumped on the hot path, read by the stats endpoint and logs.

import { BAD_INPUT_CODES, type BadInputCode } from "../proto/errors.ts";

export class EngineCounters {
  messages = 0;
  /** Orders and ticks applied (duplicates and dead letters excluded). */
  eventsApplied = 0;
  duplicates = 0;
  tierChanges = 0;
  /** Stored tier changes published live: those of watched members, and all of them in a partition's grace (live-tiers.ts). */
  liveTierChanges = 0;
  deadLetters = 0;
  readonly deadLettersByCode = Object.fromEntries(BAD_INPUT_CODES.map((c) => [c, 0])) as Record<BadInputCode, number>;

  snapshot() {
    return {
      messages: this.messages,
      eventsApplied: this.eventsApplied,
      duplicates: this.duplicates,
      tierChanges: this.tierChanges,
      liveTierChanges: this.liveTierChanges,
      deadLetters: this.deadLetters,
      deadLettersByCode: { ...this.deadLettersByCode },
    };
  }
}
