// OrderGenerator: an endless, seeded stream of orders from a realistic member population.
//
// Who orders: a share of orders (`uniformShare`) comes from members drawn uniformly — everyone
// shops now and then — and the rest from members drawn by Zipf(s) activity rank, so a few
// members order very often (at s = 1.1 and 500 000 members the busiest places ~6 % of all
// orders). Ranks are scattered over the id space, so busy members are not the small ids.
// What: lines by weight, amounts log-normal (median 60 yuan, long tail), a few refunds of an
// earlier order, a few late orders. When: event time advances 1/ratePerSec ms per order.
//
// Two ways out: `next()` returns an Order object (tests, small tools); `writeBatches` writes
// msgpack bodies per partition with no allocation per order (benchmarks).

import { memberHash32 } from "../proto/partition.ts";
import { AMOUNT_CENTS_MAX, type Order } from "../proto/types.ts";
import {
  asciiString,
  ID_SEQUENCE_MAX,
  KIND_PAID_BYTES,
  KIND_REFUND_BYTES,
  orderBytesMax,
  orderIdString,
  writeOrder,
} from "./order-bytes.ts";
import { PartitionBatcher } from "./partition-batcher.ts";
import { LogNormalSampler, Rng, WeightedIndex, ZipfSampler } from "./random.ts";

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

export const DEFAULT_LINE_WEIGHTS: Readonly<Record<string, number>> = {
  taobao: 0.35,
  tmall: 0.25,
  eleme: 0.2,
  fliggy: 0.05,
  hema: 0.15,
};

/** 2025-01-01 00:00 at UTC+08:00: a month start, so months fill from their first day. */
export const DEFAULT_START_TS = Date.UTC(2024, 11, 31, 16);

export interface PopulationOptions {
  seed: number;
  /** Members in the population (the Zipf n); ids lie in 1 … 4 294 967 291. */
  members: number;
  /** Zipf exponent of activity by rank. */
  zipfS?: number;
  /** Share of orders placed by a uniformly drawn member; the rest go by Zipf rank. */
  uniformShare?: number;
  /** Line name → weight; the names must be the engine's configured lines. */
  lines?: Readonly<Record<string, number>>;
  amountMedianCents?: number;
  /** σ of ln(amount): 1.0 puts the 99th percentile near 10× the median. */
  amountSigma?: number;
  /** Share of orders that are refunds of an order 1 … refundDaysMax days back. */
  refundRate?: number;
  refundDaysMax?: number;
  /** Share of orders that are paid late: their ts lags event time by 1 … lateMsMax. */
  lateRate?: number;
  lateMsMax?: number;
  /** Event time of the first order (ms). */
  startTs?: number;
  /** Orders per second of event time. */
  ratePerSec?: number;
}

// Member id = (rank × SCATTER_MULTIPLIER mod SCATTER_PRIME) + 1: a bijection of ranks
// 1 … SCATTER_PRIME − 1 onto ids, which lands neighbouring ranks far apart (golden-ratio step).
const SCATTER_PRIME = 4294967291; // the largest prime below 2^32
const SCATTER_MULTIPLIER = 2654435761;

export class OrderGenerator {
  readonly lineNames: readonly string[];
  readonly members: number;
  /** Orders generated so far. */
  produced = 0;

  // The current order, set by advance(); plain fields so the hot path allocates nothing.
  rank = 0;
  member = 0;
  line = 0;
  isRefund = false;
  amount = 0;
  ts = 0;
  /** −1 when absent. */
  orderTs = -1;
  sequence = 0;
  readonly idTag: number;

  private readonly rng: Rng;
  private readonly zipf: ZipfSampler;
  private readonly lineIndex: WeightedIndex;
  private readonly amounts: LogNormalSampler;
  private readonly lineBytes: Uint8Array[];
  private readonly uniformShare: number;
  private readonly refundRate: number;
  private readonly refundMsMax: number;
  private readonly lateRate: number;
  private readonly lateMsMax: number;
  private readonly startTs: number;
  private readonly msPerOrder: number;

  constructor(opts: PopulationOptions) {
    const members = opts.members;
    if (!Number.isInteger(members) || members < 1 || members >= SCATTER_PRIME) {
      throw new RangeError(`members must be an integer 1 … ${SCATTER_PRIME - 1}`);
    }
    const lines = opts.lines ?? DEFAULT_LINE_WEIGHTS;
    this.members = members;
    this.lineNames = Object.keys(lines);
    this.rng = new Rng(opts.seed);
    this.idTag = ((opts.seed % 1000) + 1000) % 1000;
    this.zipf = new ZipfSampler(this.rng, opts.zipfS ?? 1.1, members);
    this.lineIndex = new WeightedIndex(this.rng, Object.values(lines));
    this.amounts = new LogNormalSampler(this.rng, opts.amountMedianCents ?? 6000, opts.amountSigma ?? 1.0);
    this.lineBytes = this.lineNames.map(asciiString);
    this.uniformShare = share(opts.uniformShare ?? 0.5, "uniformShare");
    this.refundRate = share(opts.refundRate ?? 0.03, "refundRate");
    this.refundMsMax = (opts.refundDaysMax ?? 30) * DAY_MS;
    this.lateRate = share(opts.lateRate ?? 0.01, "lateRate");
    this.lateMsMax = opts.lateMsMax ?? 3 * HOUR_MS;
    this.startTs = opts.startTs ?? DEFAULT_START_TS;
    const rate = opts.ratePerSec ?? 5000;
    if (!(rate > 0)) throw new RangeError("ratePerSec must be > 0");
    this.msPerOrder = 1000 / rate;
    if (this.refundMsMax < DAY_MS || this.lateMsMax < 1) throw new RangeError("refundDaysMax ≥ 1 and lateMsMax ≥ 1");
  }

  /** The member id of Zipf rank `rank` (1 = the busiest). */
  memberOfRank(rank: number): number {
    return mulMod(rank, SCATTER_MULTIPLIER, SCATTER_PRIME) + 1;
  }

  /**
   * When set, the event time of the orders drawn next (ms), instead of one that advances
   * 1/ratePerSec per order: a live load sets it to the wall clock before each batch, so event
   * time follows the clock whatever the rate does.
   */
  eventTsNow: number | null = null;

  /** Event time of the next order, before lateness. */
  get eventTs(): number {
    return this.eventTsNow ?? this.startTs + Math.floor(this.produced * this.msPerOrder);
  }

  /** Draws the next order into the fields above. */
  advance(): void {
    const rng = this.rng;
    const now = this.eventTs;
    this.sequence = this.produced++;
    if (this.sequence > ID_SEQUENCE_MAX) throw new RangeError("order sequence no longer fits 16 digits");
    this.rank = rng.nextFloat() < this.uniformShare ? rng.intBetween(1, this.members) : this.zipf.sample();
    this.member = this.memberOfRank(this.rank);
    this.line = this.lineIndex.sample();
    const amount = Math.round(this.amounts.sample());
    this.amount = amount < 1 ? 1 : amount > AMOUNT_CENTS_MAX ? AMOUNT_CENTS_MAX : amount;
    this.orderTs = -1;
    this.ts = now;
    const u = rng.nextFloat();
    this.isRefund = u < this.refundRate;
    if (this.isRefund) {
      const back = rng.intBetween(DAY_MS, this.refundMsMax);
      this.orderTs = now > back ? now - back : 0;
    } else if (u < this.refundRate + this.lateRate) {
      const lag = rng.intBetween(1, this.lateMsMax);
      this.ts = now > lag ? now - lag : 0;
    }
  }

  /** The next order as an object (allocates; for tests and small tools). */
  next(): Order {
    this.advance();
    const order: Order = {
      id: orderIdString(this.idTag, this.sequence),
      member: this.member,
      line: this.lineNames[this.line],
      kind: this.isRefund ? "refund" : "paid",
      amount: this.amount,
      ts: this.ts,
    };
    if (this.orderTs >= 0) order.orderTs = this.orderTs;
    return order;
  }

  /** A batcher for this generator's orders; `sink` gets each body (a view valid during the call). */
  batcher(partitions: number, ordersPerMessage: number, sink: (partition: number, body: Uint8Array) => void): PartitionBatcher {
    const lineBytesMax = Math.max(...this.lineBytes.map((b) => b.length));
    return new PartitionBatcher(partitions, ordersPerMessage, orderBytesMax(lineBytesMax), sink);
  }

  /**
   * Writes the next `count` orders into `batcher`, each into its own partition's message
   * (partitionOf). Full messages go to the sink as they fill; call batcher.flush() for the rest.
   */
  writeBatches(count: number, batcher: PartitionBatcher): void {
    const partitions = batcher.partitions;
    const buffers = batcher.buffers;
    const positions = batcher.positions;
    for (let i = 0; i < count; i++) {
      this.advance();
      const p = memberHash32(this.member) % partitions;
      positions[p] = writeOrder(
        buffers[p],
        positions[p],
        this.idTag,
        this.sequence,
        this.member,
        this.lineBytes[this.line],
        this.isRefund ? KIND_REFUND_BYTES : KIND_PAID_BYTES,
        this.amount,
        this.ts,
        this.orderTs,
      );
      batcher.added(p);
    }
  }

  /**
   * The next `count` orders as ORDERS bodies: result[p] holds partition p's messages in order,
   * each of `ordersPerMessage` orders (the last one of a partition may hold fewer).
   */
  fillPartitionBatches(count: number, partitions: number, ordersPerMessage: number): Uint8Array[][] {
    const out: Uint8Array[][] = Array.from({ length: partitions }, () => []);
    const batcher = this.batcher(partitions, ordersPerMessage, (p, body) => out[p].push(body.slice()));
    this.writeBatches(count, batcher);
    batcher.flush();
    return out;
  }
}

function share(v: number, name: string): number {
  if (!(v >= 0 && v <= 1)) throw new RangeError(`${name} must be 0 … 1, got ${v}`);
  return v;
}

/** a × b mod m exactly, for a < 2^33 and b, m < 2^32 (every product stays below 2^53). */
function mulMod(a: number, b: number, m: number): number {
  const bHi = Math.floor(b / 65536);
  const bLo = b % 65536;
  const hi = ((a * bHi) % m) * 65536;
  return (hi + a * bLo) % m;
}
