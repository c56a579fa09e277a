// Engine counters: plain numbers bumped on the hot path, read by the stats endpoint and logs.

import { BAD_INPUT_CODES, type BadInputCode } from "../proto/errors.ts";

export class EngineCounters {
  messages = 0;
  /** Orders and ticks applied (duplicates and dead letters excluded). */
  eventsApplied = 0;
  duplicates = 0;
  tierChanges = 0;
  deadLetters = 0;
  readonly deadLettersByCode = Object.fromEntries(BAD_INPUT_CODES.map((c) => [c, 0])) as Record<BadInputCode, number>;

  snapshot() {
    return {
      messages: this.messages,
      eventsApplied: this.eventsApplied,
      duplicates: this.duplicates,
      tierChanges: this.tierChanges,
      deadLetters: this.deadLetters,
      deadLettersByCode: { ...this.deadLettersByCode },
    };
  }
}
