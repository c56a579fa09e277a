// View notices: which members' views changed, per partition, so a gateway can keep a member
// view cached until it changes instead of for a fixed TTL (README "Member reads and the cache").
// Outside the contract, between engines and gateways; core NATS, no storage.
//
// A partition's runner publishes one notice per event-loop turn in which it applied anything,
// and an empty one (a heartbeat) when it has been quiet for NOTICE_HEARTBEAT_MS:
//
//   subject  tierstream.changed.<p>
//   payload  little-endian float64s: run, from, to, flags, member…
//     run    the runner's run id (random per runner start): a new run starts a new chain
//     from   the ORDERS seq the previous notice of this run ended at (the run's start: the seq it
//            resumed after)
//     to     the ORDERS seq of the last message applied: the members listed are every member
//            whose view changed in (from, to]
//     flags  NOTICE_ALL: every view of the partition may have changed (a month start, or a
//            replay) — the list is then empty
//
// A receiver that sees a notice whose `from` is not where the last one ended (a lost message,
// a reconnect, another engine) drops every view of the partition: a notice is never trusted to
// say what a missing one said.

export const NOTICE_ALL = 1;
/** A runner with nothing applied sends an empty notice this often, so a lost one is noticed. */
export const NOTICE_HEARTBEAT_MS = 1000;
/** A receiver takes a partition's chain as broken after this long without a notice. */
export const NOTICE_SILENCE_MS = 3500;

const HEADER_FLOATS = 4;
export const NOTICE_HEADER_BYTES = HEADER_FLOATS * 8;

export const noticeSubject = (partition: number): string => `tierstream.changed.${partition}`;
export const NOTICE_SUBJECT_PREFIX = "tierstream.changed.";
export const NOTICE_ALL_SUBJECTS = "tierstream.changed.*";

export interface ViewNotice {
  partition: number;
  run: number;
  from: number;
  to: number;
  all: boolean;
  /** The members, read in place: count of them at member(i). */
  count: number;
  member(i: number): number;
}

/** Encodes a notice into `out` (which must hold NOTICE_HEADER_BYTES + 8 × count); returns the bytes used. */
export function encodeNotice(out: DataView, run: number, from: number, to: number, all: boolean, members: Float64Array, count: number): number {
  out.setFloat64(0, run, true);
  out.setFloat64(8, from, true);
  out.setFloat64(16, to, true);
  out.setFloat64(24, all ? NOTICE_ALL : 0, true);
  for (let i = 0; i < count; i++) out.setFloat64(NOTICE_HEADER_BYTES + i * 8, members[i], true);
  return NOTICE_HEADER_BYTES + count * 8;
}

/** The notice in a message, or a reason it is not one. */
export function decodeNotice(subject: string, data: Uint8Array): ViewNotice | string {
  if (!subject.startsWith(NOTICE_SUBJECT_PREFIX)) return `not a notice subject: ${subject}`;
  const tail = subject.slice(NOTICE_SUBJECT_PREFIX.length);
  const partition = /^(0|[1-9][0-9]{0,5})$/.test(tail) ? Number(tail) : -1;
  if (partition < 0) return `no partition in ${subject}`;
  if (data.length < NOTICE_HEADER_BYTES || (data.length - NOTICE_HEADER_BYTES) % 8 !== 0) {
    return `a notice is ${NOTICE_HEADER_BYTES} + 8 × n bytes, not ${data.length}`;
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const run = view.getFloat64(0, true);
  const from = view.getFloat64(8, true);
  const to = view.getFloat64(16, true);
  const flags = view.getFloat64(24, true);
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from || !Number.isFinite(run)) {
    return `a notice's range must be 0 ≤ from ≤ to (got ${from}, ${to})`;
  }
  return {
    partition,
    run,
    from,
    to,
    all: (flags & NOTICE_ALL) !== 0,
    count: (data.length - NOTICE_HEADER_BYTES) / 8,
    member: (i) => view.getFloat64(NOTICE_HEADER_BYTES + i * 8, true),
  };
}
