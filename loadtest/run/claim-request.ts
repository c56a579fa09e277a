// One claim through a gateway: POST /v1/benefits/:id/claims {member} with an Idempotency-Key.
// A 503 or a lost connection is retried with the same key (the answer is the stored one, so a
// retry never claims twice); whatever else comes back is the answer. Its fingerprint is what a
// retry with the same key must repeat: the status, and the stored record's attempt, CLAIMS
// seq and time — or the refusal's code (`remaining` is today's stock, not part of the answer).

/** Backoff before each retry of a 503 or a lost connection. */
const RETRY_DELAYS_MS = [50, 100, 200, 400, 800] as const;
const TIMEOUT_MS = 30_000;

export interface ClaimAnswer {
  status: number;
  /** The error code of a refusal (sold_out, already_claimed …); null for 200 / 201. */
  code: string | null;
  won: boolean;
  fingerprint: string;
  /** 503s and lost connections retried before this answer. */
  retried: number;
}

export interface ClaimTarget {
  url: string;
  apiKey: string;
  benefit: string;
}

interface Body {
  won?: unknown;
  attempt?: unknown;
  seq?: unknown;
  at?: unknown;
  error?: { code?: unknown };
}

export function fingerprintOf(status: number, body: Body | null): string {
  if (status === 200 || status === 201) return `${status} won=${body?.won} attempt=${body?.attempt} seq=${body?.seq} at=${body?.at}`;
  return `${status} ${String(body?.error?.code ?? "?")}`;
}

/** The answer, or throws (with the last error) when every try failed. */
export async function postClaim(t: ClaimTarget, member: number, key: string): Promise<ClaimAnswer> {
  const body = JSON.stringify({ member });
  const headers = { authorization: `Bearer ${t.apiKey}`, "content-type": "application/json", "idempotency-key": key };
  let lastError = "";
  for (let retried = 0; ; retried++) {
    try {
      const res = await fetch(`${t.url}/v1/benefits/${t.benefit}/claims`, { method: "POST", headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
      const text = await res.text();
      let parsed: Body | null = null;
      try {
        parsed = JSON.parse(text) as Body;
      } catch {
        // not JSON: the fingerprint says "?"
      }
      if (res.status !== 503) {
        return { status: res.status, code: res.status >= 300 ? String(parsed?.error?.code ?? "?") : null, won: res.status === 201, fingerprint: fingerprintOf(res.status, parsed), retried };
      }
      lastError = `503 ${String(parsed?.error?.code ?? text.slice(0, 80))}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (retried >= RETRY_DELAYS_MS.length) throw new Error(`claim of member ${member}: ${lastError} (after ${retried} retries)`);
    await Bun.sleep(RETRY_DELAYS_MS[retried]);
  }
}
