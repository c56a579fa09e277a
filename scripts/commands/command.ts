// The shape of a CLI command, and the flags every process shares (CONTRACT "Running").

import { parseArgs } from "node:util";

export interface Command {
  name: string;
  summary: string;
  help: string;
  /** Returns the exit code once the command is done (long-running ones on SIGTERM). */
  run(argv: string[]): Promise<number>;
}

export const COMMON_FLAGS_HELP = `  --nats URL          NATS server(s), comma-separated   [env NATS_URL, default nats://127.0.0.1:4222]
  --config FILE       JSON rules/lines/ladder/policy/limits [env TIERSTREAM_CONFIG, default built-in]`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export type FlagSpec = Record<string, { type: "string" | "boolean"; short?: string }>;
export type Flags = Record<string, string | boolean | undefined>;

/** parseArgs with a one-line UsageError instead of Node's multi-line TypeError. */
export function parseFlags(argv: string[], options: FlagSpec, positionals = false): { flags: Flags; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: positionals, strict: true });
    return { flags: parsed.values as Flags, positionals: parsed.positionals };
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0]);
  }
}

/** A flag that must be a number in [min, max] when given. */
export function numberFlag(flags: Flags, name: string, fallback: number, min: number, max: number): number {
  const raw = flags[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number ${min} … ${max}, got "${raw}"`);
  return n;
}

export const natsUrlOf = (flag: unknown): string => (flag as string | undefined) ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";

/** Resolves on the first SIGTERM or SIGINT. */
export function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve(sig));
  });
}
