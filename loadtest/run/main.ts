// `tierstream loadtest <scenario>`: parse, start the target (or reach the deployment), run the
// scenario, write result.json and report.html, print the final table, and answer the exit
// status: 0 done (and every SLO met), 3 an SLO missed, 4 a scenario check failed (chaos:
// verify found differences; drop: an oversell, a member over its limit, CLAIMS disagreeing,
// a retry answered differently); 1 could not run, 2 usage.

import { join } from "node:path";
import { loadConfigFile } from "../../engine/config.ts";
import { type Flags, parseFlags, UsageError } from "../../scripts/commands/command.ts";
import { renderReport } from "../html/report.ts";
import { findScenario, SCENARIOS } from "../scenarios/index.ts";
import type { Scenario, ScenarioContext, Target } from "../scenarios/scenario.ts";
import { type LocalStack, startLocalStack } from "./local-stack.ts";
import { COMMON_FLAGS, commonFlagsHelp, type LoadtestOptions, parseOptions } from "./options.ts";
import { buildResult, EXIT, type LoadtestResult, writeResultFiles } from "./result.ts";
import { summaryRows, summaryTable } from "./summary.ts";

export function loadtestHelp(): string {
  const width = Math.max(...SCENARIOS.map((s) => s.name.length));
  return `usage: tierstream loadtest <scenario> [flags]

Drives orders from a realistic population into a deployment (--nats, --gateway) or into a
local stack it starts and stops itself (nats-server, engine processes, a gateway). Batched,
pipelined publishing; a line per second says what was asked, sent, acknowledged and applied,
the latency so far, and whether the generator kept up — and why not when it did not.
(drop: a flash benefit opening to connected members, and all of its claimants claiming.)
At the end: a table, <out>/result.json and a self-contained <out>/report.html.

scenarios:
${SCENARIOS.map((s) => `  ${s.name.padEnd(width)}  ${s.summary}`).join("\n")}

${commonFlagsHelp()}

scenario flags:
${SCENARIOS.filter((s) => s.flagsHelp !== "").map((s) => `${s.name}:\n${s.flagsHelp}`).join("\n")}

exit status: 0 done (every SLO given met), 3 an SLO missed, 4 a scenario check failed
(chaos: the verifier found differences; drop: a check of the claims), 1 the run could not
be done, 2 bad usage, 130 interrupted (the first Ctrl-C stops the load and still writes the
result and report).`;
}

export interface LoadtestIo {
  log(msg: string): void;
  print(line: string): void;
}

const stdio: LoadtestIo = {
  log: (msg) => console.error(msg),
  print: (line) => console.log(line),
};

/** Flags whose value is a secret: kept out of the command line the result records. */
const SECRET_FLAGS = new Set(["--jwt-secret", "--api-key"]);

export function redactArgv(argv: readonly string[]): string[] {
  return argv.map((a, i) => {
    const eq = a.indexOf("=");
    if (eq > 0 && SECRET_FLAGS.has(a.slice(0, eq))) return `${a.slice(0, eq)}=…`;
    return i > 0 && SECRET_FLAGS.has(argv[i - 1]) ? "…" : a;
  });
}

function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

function checkTarget(s: Scenario, o: LoadtestOptions): void {
  if (s.localOnly && o.natsUrl !== null) throw new UsageError(`${s.name} runs only on the local stack it starts (leave out --nats)`);
  if (s.needsGateway) {
    if (o.natsUrl !== null && o.gatewayUrls.length === 0) throw new UsageError(`${s.name} needs the deployment's --gateway URL(s)`);
    if (o.natsUrl === null && !o.gateway) throw new UsageError(`${s.name} needs a gateway: leave out --no-gateway`);
    if (o.connections < 1 || o.probeMembers < 1) throw new UsageError(`${s.name} needs --connections and --probe-members ≥ 1`);
  }
}

export async function runLoadtest(argv: string[], io: LoadtestIo = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name.startsWith("-")) throw new UsageError(`loadtest needs a scenario: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  const scenario = findScenario(name);
  if (scenario === undefined) throw new UsageError(`unknown scenario "${name}"; scenarios: ${SCENARIOS.map((s) => s.name).join(", ")}`);
  const { flags } = parseFlags(rest, { ...COMMON_FLAGS, ...scenario.flags });
  const configPath = (flags.config as string | undefined) ?? (process.env.TIERSTREAM_CONFIG || undefined);
  const config = await loadConfigFile(configPath);
  const options = parseOptions(flags, scenario.defaults, config);
  scenario.validate?.(flags, options);
  checkTarget(scenario, options);
  const outDir = options.outDir ?? join(".loadtest", `${scenario.name}-${timestamp()}`);

  // The first SIGINT/SIGTERM ends the load early and the run still reports; a second one exits at once.
  const interrupt = new AbortController();
  const onSignal = (sig: string) => {
    if (interrupt.signal.aborted) process.exit(EXIT.interrupted);
    io.log(`${sig}: stopping the load; writing what was measured (again to quit at once)`);
    interrupt.abort();
  };
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => [sig, () => onSignal(sig)] as const);
  for (const [sig, h] of handlers) process.on(sig, h);

  let stack: LocalStack | null = null;
  let result: LoadtestResult;
  try {
    let target: Target;
    if (options.natsUrl === null) {
      stack = await startLocalStack({
        engines: options.engines,
        partitions: config.partitions,
        gateway: options.gateway && options.connections > 0,
        configPath: options.configPath,
        logDir: join(outDir, "logs"),
        log: io.log,
      });
      target = { natsUrl: stack.natsUrl, gatewayUrls: stack.gatewayUrls, jwtSecret: stack.jwtSecret, local: stack };
    } else {
      target = { natsUrl: options.natsUrl, gatewayUrls: options.gatewayUrls, jwtSecret: options.jwtSecret, local: null };
    }
    if (interrupt.signal.aborted) return EXIT.interrupted; // before any load: nothing to report
    const ctx: ScenarioContext = { scenario: scenario.name, options, config, target, flags: flags as Flags, interrupted: interrupt.signal, log: io.log, print: io.print };
    const outcome = await scenario.run(ctx);
    result = buildResult({
      scenario: scenario.name,
      summary: scenario.summary,
      command: ["tierstream", "loadtest", ...redactArgv(argv)].join(" "),
      options,
      target: { kind: stack === null ? "deployment" : "local", natsUrl: target.natsUrl, gatewayUrls: target.gatewayUrls, engines: stack?.engines.length ?? null },
      outcome,
    });
  } finally {
    if (stack !== null) {
      io.log("local stack: stopping");
      await stack.stop();
    }
    for (const [sig, h] of handlers) process.off(sig, h);
  }
  const files = writeResultFiles(outDir, result, renderReport(result));
  io.print("");
  io.print(summaryTable([...summaryRows(result), ["result", files.json], ["report", files.html]]));
  for (const s of result.slo.items.filter((x) => !x.pass)) io.print(`SLO MISSED: ${s.detail}`);
  for (const c of result.checks.filter((x) => !x.pass)) io.print(`CHECK FAILED: ${c.name}: ${c.detail}`);
  return result.exitCode;
}
