// The request lane between gateways and engines (engine/request-lane.ts has the why):
// many member reads, eligibility checks and claims for one engine's partitions in one message.
// Outside the contract: the per-partition endpoints answer the same and stay the fallback.

/** Every engine answers with its LaneEntry. */
export const LANE_DIRECTORY_SUBJECT = "tierstream.lane.directory";
/** Every engine publishes its LaneEntry here whenever the partitions it serves change. */
export const LANE_CHANGED_SUBJECT = "tierstream.lane.changed";
/** Items in one lane message at most. */
export const LANE_ITEMS_MAX = 512;

export const LANE_OP_MEMBER = "m";
export const LANE_OP_ELIGIBILITY = "e";
export const LANE_OP_CLAIM = "c";
/**
 * A member view as its JSON text, stamped: answer [viewJson, run, seq] (StampedView). The
 * gateway caches and serves the text as is, unparsed, until a view notice of that run lists
 * the member after that ORDERS seq (proto/view-notice.ts).
 */
export const LANE_OP_MEMBER_JSON = "M";

/** [the view's JSON text, the run id of the partition's runner (−1: none), ORDERS seq of the last message applied]. */
export type StampedView = [json: string, run: number, seq: number];

export function isStampedView(v: unknown): v is StampedView {
  return Array.isArray(v) && v.length === 3 && typeof v[0] === "string" && typeof v[1] === "number" && Number.isSafeInteger(v[2]);
}
/**
 * Eligibility of many members of any partitions the engine serves, in one item (a promotion
 * system's batch of up to 1000): body {benefit, members}, partition -1; answer {reasons}, one
 * per member in order, null where the member's partition is not served there or still
 * replaying (the gateway asks that partition's endpoint instead).
 */
export const LANE_OP_ELIGIBILITY_BATCH = "E";

export interface LaneEntry {
  engine: string;
  /** The engine's own lane subject. */
  lane: string;
  /** Partitions whose endpoints are open there. */
  partitions: number[];
}

export function isLaneEntry(v: unknown): v is LaneEntry {
  const e = v as LaneEntry;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof e.engine === "string" &&
    typeof e.lane === "string" &&
    e.lane.length > 0 &&
    Array.isArray(e.partitions) &&
    e.partitions.every((p) => Number.isInteger(p) && p >= 0)
  );
}
