// Seeded randomness for the load generator: one PRNG and the samplers a population needs.
// Never Math.random: the same seed gives the same orders, byte for byte, on every machine.
//
// Every sampler is O(1) per draw and allocates nothing per draw; setup is O(1) except the
// weighted index (O(categories)). Zipf works for n up to 2^53 with no table.

const TWO_POW_32 = 4294967296;

/** xoshiro128** (Blackman & Vigna): 32-bit output, period 2^128 − 1, seeded through splitmix32. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
    // splitmix32 spreads any seed (0 included) over the four words; they are never all zero.
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next() | 1;
  }

  /** A uniform integer 0 … 2^32 − 1. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** A uniform double in [0, 1), 32 bits of resolution (enough for every sampler here). */
  nextFloat(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** A uniform integer in [lo, hi] (inclusive); the span may be up to 2^32. */
  intBetween(lo: number, hi: number): number {
    const span = hi - lo + 1;
    // A plain check, not console.assert: that costs ~15 ns a call in Bun, on a per-order path.
    if (!(span >= 1 && span <= TWO_POW_32)) throw new RangeError(`intBetween: span ${span} outside 1 … 2^32`);
    // Multiply-high instead of modulo: no division, bias below 2^-32 × span.
    return lo + Math.floor((this.nextU32() * span) / TWO_POW_32);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** Standard normal draws by Box–Muller; the second value of each pair is kept for the next call. */
export class NormalSampler {
  private spare = 0;
  private hasSpare = false;

  constructor(private readonly rng: Rng) {}

  sample(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    const u = 1 - this.rng.nextFloat(); // (0, 1]: log(u) is finite
    const v = this.rng.nextFloat();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * v;
    this.spare = r * Math.sin(theta);
    this.hasSpare = true;
    return r * Math.cos(theta);
  }
}

/** exp(N(ln median, sigma²)): the median is `median`, the mean median × e^(σ²/2). */
export class LogNormalSampler {
  private readonly mu: number;
  private readonly normal: NormalSampler;

  constructor(
    rng: Rng,
    median: number,
    private readonly sigma: number,
  ) {
    if (!(median > 0) || !(sigma >= 0)) throw new RangeError("log-normal needs median > 0 and sigma ≥ 0");
    this.mu = Math.log(median);
    this.normal = new NormalSampler(rng);
  }

  sample(): number {
    return Math.exp(this.mu + this.sigma * this.normal.sample());
  }
}

/**
 * Zipf(s, n) over 1 … n, P(k) ∝ k^−s, by rejection-inversion (Hörmann & Derflinger 1996, "Rejection-
 * inversion to generate variates from monotone discrete distributions"; the formulation of Apache
 * Commons Math's ZipfRejectionInversionSampler). O(1) setup and memory; about 1.1 uniform
 * draws per sample for any n, so n = 10^7 or 10^12 costs the same.
 */
export class ZipfSampler {
  private readonly hIntegralX1: number;
  private readonly hIntegralN: number;
  private readonly accept: number;

  constructor(
    private readonly rng: Rng,
    readonly s: number,
    readonly n: number,
  ) {
    if (!(s > 0)) throw new RangeError(`Zipf exponent must be > 0, got ${s}`);
    if (!Number.isInteger(n) || n < 1 || n > Number.MAX_SAFE_INTEGER) throw new RangeError(`Zipf n must be a positive integer, got ${n}`);
    this.hIntegralX1 = this.hIntegral(1.5) - 1;
    this.hIntegralN = this.hIntegral(n + 0.5);
    this.accept = 2 - this.hIntegralInverse(this.hIntegral(2.5) - this.h(2));
  }

  /** A rank 1 … n. */
  sample(): number {
    // Bounded: the acceptance rate is above 0.8 for every s and n, so 64 rejections in a
    // row (probability < 10^-40) means a broken invariant, not bad luck.
    for (let attempt = 0; attempt < 64; attempt++) {
      const u = this.hIntegralN + this.rng.nextFloat() * (this.hIntegralX1 - this.hIntegralN);
      const x = this.hIntegralInverse(u);
      let k = Math.floor(x + 0.5);
      if (k < 1) k = 1;
      else if (k > this.n) k = this.n;
      if (k - x <= this.accept || u >= this.hIntegral(k + 0.5) - this.h(k)) return k;
    }
    throw new Error("ZipfSampler: 64 rejections in a row");
  }

  /** H(x) = ∫ h: (x^(1−s) − 1) / (1 − s), continuous through s = 1 (where it is ln x). */
  private hIntegral(x: number): number {
    const logX = Math.log(x);
    return expm1OverX((1 - this.s) * logX) * logX;
  }

  private h(x: number): number {
    return Math.exp(-this.s * Math.log(x));
  }

  private hIntegralInverse(x: number): number {
    let t = x * (1 - this.s);
    if (t < -1) t = -1; // rounding can push it just past the pole
    return Math.exp(log1pOverX(t) * x);
  }
}

/** log1p(x)/x, with its series near 0 where the quotient loses precision. */
function log1pOverX(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.log1p(x) / x : 1 - x * (1 / 2 - x * (1 / 3 - x / 4));
}

/** expm1(x)/x, likewise. */
function expm1OverX(x: number): number {
  return Math.abs(x) > 1e-8 ? Math.expm1(x) / x : 1 + (x / 2) * (1 + (x / 3) * (1 + x / 4));
}

/** Index i with probability weights[i] / Σ weights, by a scan of the cumulative table (few categories). */
export class WeightedIndex {
  private readonly cumulative: Float64Array;

  constructor(
    private readonly rng: Rng,
    weights: readonly number[],
  ) {
    if (weights.length === 0 || weights.some((w) => !(w >= 0))) throw new RangeError("weights must be ≥ 0, at least one");
    const total = weights.reduce((a, b) => a + b, 0);
    if (!(total > 0)) throw new RangeError("weights must not all be 0");
    this.cumulative = new Float64Array(weights.length);
    let sum = 0;
    for (let i = 0; i < weights.length; i++) this.cumulative[i] = (sum += weights[i] / total);
    this.cumulative[weights.length - 1] = 1; // rounding must not leave a gap at the top
  }

  sample(): number {
    const u = this.rng.nextFloat();
    const c = this.cumulative;
    let i = 0;
    while (u >= c[i]) i++;
    return i;
  }
}
