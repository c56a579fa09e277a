// Streams and buckets are created on first use by whichever process comes first. When two
// create the same one at the same moment, the server answers the slower with an error (a
// stream "already in use", or its subjects "overlap with an existing stream": the twin
// created a moment ago). Asking once more then finds the stream and opens it. A genuine
// clash (another stream on the same subjects) fails the second time too, and is thrown.

const CREATED_CONCURRENTLY = /already in use|already exists|subjects overlap/i;

export function isCreatedConcurrently(err: unknown): boolean {
  return CREATED_CONCURRENTLY.test(String((err as Error)?.message ?? err));
}

/** Runs an idempotent open-or-create; once more if it lost a creation race. */
export async function openRacing<T>(open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (err) {
    if (!isCreatedConcurrently(err)) throw err;
    return open();
  }
}
