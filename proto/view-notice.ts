// View notices: which members' views changed, per partition, so a gateway can keep a member
// view cached until it changes instead of for a fixed TTL (README "Member reads and the cache").
// Outside the contract, between engines and gateways; core NATS, no storage.
//
// Each partition's runner keeps one chain of notices per run. An engine gathers what its
// partitions applied and publishes it at most every NOTICE_BATCH_MS, every partition's notice
// in one message, and every partition's (most of them empty: a heartbeat) each
// NOTICE_HEARTBEAT_MS:
//
//   subject  tierstream.changed
//   payload  little-endian float64s: a count of notices, then each notice:
//              partition, run, from, to, flags, n, member × n
//     run    the runner's run id (random per runner start): a new run starts a new chain
//     from   the ORDERS seq the previous notice of this run ended at (the run's first: the seq
//            it resumed after)
//     to     the ORDERS seq of the last message applied: the members listed are every member
//            whose view changed in (from, to]
//     flags  NOTICE_ALL: every view of the partition may have changed (a month start, or
//            messages applied while replaying) — the list is then empty
//
// A receiver that sees a notice whose `from` is not where the last one ended (a lost message,
// a reconnect, another engine) drops every view of the partition: a notice is never trusted to
// say what a missing one said.

export const NOTICE_ALL = 1;
/** The longest a change waits before its notice goes out (changes gather meanwhile). */
export const NOTICE_BATCH_MS = 5;
/** Every partition's notice goes out this often, empty when nothing changed, so a lost one is noticed. */
export const NOTICE_HEARTBEAT_MS = 1000;
/** A receiver takes a partition's chain as broken after this long without a notice. */
export const NOTICE_SILENCE_MS = 3500;

export const NOTICE_SUBJECT = "tierstream.changed";
/** Floats before a notice's members: partition, run, from, to, flags, n. */
export const NOTICE_HEAD_FLOATS = 6;

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

/** Writes one notice at float `at` of `out`; returns the float after it. */
export function writeNotice(
  out: Float64Array,
  at: number,
  partition: number,
  run: number,
  from: number,
  to: number,
  all: boolean,
  members: Float64Array,
  count: number,
): number {
  out[at] = partition;
  out[at + 1] = run;
  out[at + 2] = from;
  out[at + 3] = to;
  out[at + 4] = all ? NOTICE_ALL : 0;
  out[at + 5] = count;
  out.set(members.subarray(0, count), at + NOTICE_HEAD_FLOATS);
  return at + NOTICE_HEAD_FLOATS + count;
}

/**
 * The notices in a message, each handed to `each` as it is read (one reused object: read it
 * before returning). Returns null, or why the message is not one; notices before a bad one
 * have been handed over already, none after it.
 */
export function readNotices(data: Uint8Array, each: (n: ViewNotice) => void): string | null {
  if (data.length < 8 || data.length % 8 !== 0) return `a notice message is 8 × n bytes, at least 8; not ${data.length}`;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const floats = data.length / 8;
  const f = (i: number) => view.getFloat64(i * 8, true);
  const notices = f(0);
  if (!Number.isSafeInteger(notices) || notices < 0) return `bad notice count ${notices}`;
  let base = 0;
  const n: ViewNotice = { partition: 0, run: 0, from: 0, to: 0, all: false, count: 0, member: (i) => f(base + NOTICE_HEAD_FLOATS + i) };
  let at = 1;
  for (let k = 0; k < notices; k++) {
    if (at + NOTICE_HEAD_FLOATS > floats) return `notice ${k} of ${notices} runs past the message`;
    const [partition, run, from, to, flags, count] = [f(at), f(at + 1), f(at + 2), f(at + 3), f(at + 4), f(at + 5)];
    if (!Number.isSafeInteger(partition) || partition < 0) return `notice ${k}: bad partition ${partition}`;
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || to < from || !Number.isFinite(run)) {
      return `notice ${k}: its range must be 0 ≤ from ≤ to (got ${from}, ${to})`;
    }
    if (!Number.isSafeInteger(count) || count < 0 || at + NOTICE_HEAD_FLOATS + count > floats) return `notice ${k}: bad member count ${count}`;
    base = at;
    n.partition = partition;
    n.run = run;
    n.from = from;
    n.to = to;
    n.all = (flags & NOTICE_ALL) !== 0;
    n.count = count;
    each(n);
    at += NOTICE_HEAD_FLOATS + count;
  }
  return at === floats ? null : `${floats - at} floats after the last notice`;
}
