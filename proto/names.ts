// Subjects, streams and buckets of the contract (CONTRACT.md v1, "NATS").

export const STREAM_ORDERS = "ORDERS";
export const STREAM_ORDERS_DLQ = "ORDERS_DLQ";
export const STREAM_TIER_EVENTS = "TIER_EVENTS";
export const STREAM_CLAIMS = "CLAIMS";
export const BUCKET_BENEFITS = "BENEFITS";
export const SERVICE_NAME = "tierstream";

export const PARTITIONS_DEFAULT = 64;

export const ordersSubject = (partition: number): string => `orders.${partition}`;
export const dlqSubject = (partition: number): string => `dlq.orders.${partition}`;
export const tierSubject = (partition: number, member: number | string): string => `tier.${partition}.${member}`;
export const tierPartitionFilter = (partition: number): string => `tier.${partition}.>`;
export const scoreSubject = (partition: number, member: number): string => `score.${partition}.${member}`;
export const claimsSubject = (partition: number, member: number): string => `claims.${partition}.${member}`;
export const memberRequestSubject = (partition: number): string => `tierstream.member.${partition}`;
export const eligibilityRequestSubject = (partition: number): string => `tierstream.elig.${partition}`;
export const claimRequestSubject = (partition: number): string => `tierstream.claim.${partition}`;

/** Every engine answers: its partitions, members per tier, counters (see engine/member-service.ts). */
export const ENGINE_STATS_SUBJECT = "tierstream.engine.stats";

/** Gateways announce the members they watch here (core NATS; leases, see engine/interest). */
export const interestSubject = (partition: number): string => `tierstream.interest.${partition}`;
/** An engine that starts asks every gateway to announce its interest again. */
export const INTEREST_RESYNC_SUBJECT = "tierstream.interest.resync";
/** Tier changes with their TIER_EVENTS seq, published by the engine once stored (core NATS). */
export const liveTierSubject = (partition: number, member: number | string): string => `live.tier.${partition}.${member}`;

/** Headers the engine writes. */
export const HEADER_MSG_ID = "Nats-Msg-Id";
export const HEADER_DLQ_REASON = "Tierstream-Reason";
export const HEADER_DLQ_DETAIL = "Tierstream-Detail";
export const HEADER_DLQ_SOURCE_SEQ = "Tierstream-Source-Seq";
export const HEADER_DLQ_ITEM = "Tierstream-Item";
export const HEADER_TIER_POS = "Tierstream-Pos";

/** Inventory handed to partitions (engine/benefits/inventory-pool.ts): key = benefit id. */
export const BUCKET_BENEFIT_POOLS = "BENEFIT_POOLS";
/** KV bucket of each partition's last stored tier change, a restart's hint (engine/tier-marks.ts). */
export const BUCKET_TIER_MARKS = "TIER_MARKS";
/** A partition out of units asks every engine to return its unused allotment (core NATS). */
export const POOL_RELEASE_SUBJECT = "tierstream.pool.release";
export const claimsPartitionFilter = (partition: number): string => `claims.${partition}.>`;
export const CLAIMS_ALL_FILTER = "claims.>";
