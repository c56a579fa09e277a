// bun run bench [names...] [--scale=N] [--seed=N] [--on=LABEL]
//
// Runs the named benchmarks (default: all), each in a fresh child process so that one's heap,
// JIT and page cache do not colour another's figures (the memory benchmark reads RSS). Each
// child writes .bench/results-<name>.json; then BENCHMARKS.md is regenerated from every result
// file present. Figures are printed and written, never asserted: this is not a timed test.
// --on=LABEL names another machine the run is made on (e.g. --on=16-core): its results get a
// file and a section of their own, beside this machine's instead of replacing them.

import { join } from "node:path";
import { applyBench } from "./bench/apply.ts";
import { benefitsBench } from "./bench/benefits.ts";
import { catchupBench, catchupLongBench } from "./bench/catchup.ts";
import { gatewayConnectionsBench } from "./bench/gateway-connections.ts";
import { gatewayFeedLatencyBench } from "./bench/gateway-feed-latency.ts";
import { gatewayReadsBench } from "./bench/gateway-reads.ts";
import { memoryBench } from "./bench/memory.ts";
import { natsSizingBench } from "./bench/nats-sizing.ts";
import { scalingBench } from "./bench/scaling.ts";
import { takeoverBench } from "./bench/takeover.ts";
import { tierPublishCostBench } from "./bench/tier-publish-cost.ts";
import type { BenchModule, Row } from "./bench/types.ts";
import { machineInfo, machineLine } from "./machine.ts";
import { fmt, readResults, renderMarkdown, writeResult } from "./report.ts";

/** Every benchmark, in the order `bun run bench` runs them and BENCHMARKS.md lists them. */
const MODULES: readonly BenchModule[] = [
  applyBench,
  catchupBench,
  catchupLongBench,
  memoryBench,
  natsSizingBench,
  tierPublishCostBench,
  gatewayConnectionsBench,
  gatewayFeedLatencyBench,
  gatewayReadsBench,
  benefitsBench,
  scalingBench,
  takeoverBench,
];

const ROOT = join(import.meta.dir, "..");
const RESULTS_DIR = join(ROOT, ".bench");
const BENCHMARKS_MD = join(ROOT, "BENCHMARKS.md");
const CHILD_FLAG = "--child";

interface Args {
  names: string[];
  scale: number;
  seed: number;
  child: boolean;
  on?: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { names: [], scale: 1, seed: 1, child: false };
  for (const a of argv) {
    if (a === CHILD_FLAG) args.child = true;
    else if (a.startsWith("--scale=")) args.scale = Number(a.slice(8));
    else if (a.startsWith("--seed=")) args.seed = Number(a.slice(7));
    else if (a.startsWith("--on=")) args.on = a.slice(5);
    else if (a === "--help" || a === "-h") usage(0);
    else if (a.startsWith("-")) usage(1, `unknown option ${a}`);
    else args.names.push(a);
  }
  if (!(args.scale > 0 && args.scale <= 1)) usage(1, "--scale must be in (0, 1]");
  if (!Number.isInteger(args.seed)) usage(1, "--seed must be an integer");
  if (args.on !== undefined && !/^[a-z0-9][a-z0-9-]*$/.test(args.on)) usage(1, "--on must be a label of lowercase letters, digits and dashes");
  const known = MODULES.map((m) => m.name);
  for (const n of args.names) if (!known.includes(n)) usage(1, `unknown benchmark ${n}`);
  if (args.names.length === 0) args.names = known;
  return args;
}

function usage(code: number, problem?: string): never {
  if (problem) console.error(problem);
  console.error("usage: bun run bench [names...] [--scale=0…1] [--seed=N] [--on=LABEL]\nbenchmarks:");
  for (const m of MODULES) console.error(`  ${m.name.padEnd(8)} ${m.description}`);
  process.exit(code);
}

/** The command as the user typed it (argv minus the child flag). */
function commandLine(argv: string[]): string {
  const rest = argv.filter((a) => a !== CHILD_FLAG).join(" ");
  const base = process.env.npm_lifecycle_event === "bench" ? "bun run bench" : "bun loadtest/bench.ts";
  return rest ? `${base} ${rest}` : base;
}

async function runChild(args: Args, command: string): Promise<void> {
  const module = MODULES.find((m) => m.name === args.names[0])!;
  const machine = machineInfo();
  const notes: string[] = [];
  const startedAt = new Date();
  const t = performance.now();
  const drafts = await module.run({
    scale: args.scale,
    seed: args.seed,
    log: (msg) => console.error(`  ${msg}`),
    note: (text) => notes.push(text),
  });
  const rows: Row[] = drafts.map((d) => ({ benchmark: module.name, ...d, machine: machineLine(machine), command }));
  writeResult(RESULTS_DIR, {
    benchmark: module.name,
    label: args.on,
    description: module.description,
    command,
    machine,
    startedAt: startedAt.toISOString(),
    durationS: (performance.now() - t) / 1000,
    scale: args.scale,
    seed: args.seed,
    rows,
    notes,
  });
  for (const r of rows) {
    const vs = r.ceiling ? `  (${r.ceiling.name} ${fmt(r.ceiling.value)}, ratio ${fmt(r.ratio ?? NaN)})` : "";
    const target = r.target ? `  target ${r.target}: ${r.pass ? "pass" : "FAIL"}` : "";
    console.log(`${module.name.padEnd(8)} ${r.metric}: ${fmt(r.value)} ${r.unit}${vs}${target}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  // The command recorded is the parent's: what the user typed, not how it spawned children.
  const command = process.env.TIERSTREAM_BENCH_COMMAND ?? commandLine(argv);
  if (args.child) {
    await runChild(args, command);
    return 0;
  }
  let failed = 0;
  for (const name of args.names) {
    console.error(`bench ${name}`);
    const passOn = argv.filter((a) => a.startsWith("--scale=") || a.startsWith("--seed=") || a.startsWith("--on="));
    const child = Bun.spawn([process.execPath, import.meta.path, CHILD_FLAG, name, ...passOn], {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, TIERSTREAM_BENCH_COMMAND: command },
    });
    const code = await child.exited;
    if (code !== 0) {
      failed++;
      console.error(`bench ${name} failed (exit ${code}); its previous results, if any, are left as they were`);
    }
  }
  const order = MODULES.map((m) => m.name);
  await Bun.write(BENCHMARKS_MD, renderMarkdown(readResults(RESULTS_DIR, order)));
  console.error(`wrote ${BENCHMARKS_MD}`);
  return failed === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
