// A probe carries the wall-clock time it was sent in its own id, so whoever receives the
// frame it causes can compute the latency without a lookup: probe.<phase>.<seq>.<sent µs>.
// The id is an order id (≤ 64 bytes, proto/validate.ts) and comes back as a tier frame's cause.

const PREFIX = "probe.";
/** "probe." + phase (≤ 16) + "." + seq (≤ 9) + "." + µs since 1970 (16 digits): ≤ 49 bytes. */
const PHASE_RE = /^[a-z0-9-]{1,16}$/;

export function probeId(phase: string, seq: number, sentMs: number): string {
  if (!PHASE_RE.test(phase) || !Number.isInteger(seq) || seq < 0 || seq > 999_999_999) throw new RangeError(`bad probe ${phase}.${seq}`);
  return `${PREFIX}${phase}.${seq}.${Math.round(sentMs * 1000)}`;
}

export function parseProbeId(id: string): { phase: string; sentMs: number } | null {
  if (!id.startsWith(PREFIX)) return null;
  const parts = id.split(".");
  if (parts.length !== 4) return null;
  const us = Number(parts[3]);
  return Number.isSafeInteger(us) ? { phase: parts[1], sentMs: us / 1000 } : null;
}
