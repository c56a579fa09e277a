// What a benchmark module is and what it reports. bench.ts runs the modules; report.ts turns
// their rows into .bench/results-<name>.json and BENCHMARKS.md.

export interface Row {
  benchmark: string;
  metric: string;
  value: number;
  unit: string;
  /** The figure this one is bounded by or compared with (a raw ceiling, a peer). */
  ceiling?: { name: string; value: number };
  /** value / ceiling.value. */
  ratio?: number;
  /** The target in words, e.g. "≥ 2 000 000 orders/s". */
  target?: string;
  pass?: boolean;
  /** One line: cores, CPU model, memory. */
  machine: string;
  /** The exact command that produced the figure. */
  command: string;
}

/** A row as a module returns it; bench.ts adds benchmark, machine and command. */
export type RowDraft = Omit<Row, "benchmark" | "machine" | "command">;

export interface BenchContext {
  /** Multiplies every order and member count (1 for the real run; smaller for a smoke run). */
  scale: number;
  seed: number;
  /** Progress lines to stderr; figures go in rows only. */
  log(msg: string): void;
  /** Free-text notes for BENCHMARKS.md (population, what a figure includes). */
  note(text: string): void;
}

export interface BenchModule {
  name: string;
  /** One line for --help and BENCHMARKS.md. */
  description: string;
  run(ctx: BenchContext): Promise<RowDraft[]>;
}

/** A row with its ratio and pass filled in from a ceiling and a threshold. */
export function compared(
  row: Omit<RowDraft, "ratio" | "pass">,
  check?: { atLeast?: number; atMost?: number; ratioAtLeast?: number },
): RowDraft {
  const ratio = row.ceiling ? row.value / row.ceiling.value : undefined;
  let pass: boolean | undefined;
  if (check) {
    pass = true;
    if (check.atLeast !== undefined) pass &&= row.value >= check.atLeast;
    if (check.atMost !== undefined) pass &&= row.value <= check.atMost;
    if (check.ratioAtLeast !== undefined) pass &&= ratio !== undefined && ratio >= check.ratioAtLeast;
  }
  return { ...row, ratio, pass };
}

/** The middle value of a bench's repeated runs (the upper middle for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}
