// Streams and buckets are created on first use by whichever process comes first. When two
// create the same one at the same moment, the server answers the slower with an error (a
// stream "already in use", or its subjects "overlap with an existing stream": the twin
// created a moment ago). Asking once more then finds the stream and opens it. A genuine
// clash (another stream on the same subjects) fails the second time too, and is thrown.
//
// A busy or just-started server may also not answer a JetStream API request in time, or
// answer that JetStream is "temporarily unavailable". An open-or-create is idempotent, so
// such an open is asked again after a pause, a few times, instead of failing a process's
// start-up for one slow answer (CI saw one of 6 400 concurrent opens fail so).

const CREATED_CONCURRENTLY = /already in use|already exists|subjects overlap/i;
const TRANSIENT = /^timeout$|temporarily unavailable|no responders/i;

export function isCreatedConcurrently(err: unknown): boolean {
  return CREATED_CONCURRENTLY.test(messageOf(err));
}

/** A failure that says nothing about the stream: asking again later may succeed. */
export function isTransient(err: unknown): boolean {
  return TRANSIENT.test(messageOf(err));
}

export interface RetryOptions {
  /** Tries for transient failures, the first included. */
  attempts?: number;
  /** Pause before the second try; doubled before each later one. */
  backoffMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Runs an idempotent open-or-create; once more if it lost a creation race, and again after transient failures. */
export async function openRacing<T>(open: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  let lostRace = false;
  return retryTransient(async () => {
    try {
      return await open();
    } catch (err) {
      if (!isCreatedConcurrently(err) || lostRace) throw err;
      lostRace = true; // the twin exists now: ask at once
      return open();
    }
  }, opts);
}

/** Runs an idempotent step, and again after each transient failure, pausing longer each time, up to its attempts. */
export async function retryTransient<T>(step: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  // setTimeout, not Bun.sleep: proto/ is imported by producers on Node too.
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let backoffMs = opts.backoffMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!isTransient(err) || attempt >= attempts) throw err;
      await sleep(backoffMs);
      backoffMs *= 2;
    }
  }
}

function messageOf(err: unknown): string {
  return String((err as Error)?.message ?? err);
}
