// What a scenario is: a name, its own flags, and a run that drives load against a target and
// says what it saw. loadtest/scenarios/index.ts lists them; the command and the report know
// nothing about any one of them.

import type { Config } from "../../engine/config.ts";
import type { Flags, FlagSpec } from "../../scripts/commands/command.ts";
import type { LoadOutcome } from "../run/run-load.ts";
import type { LocalStack } from "../run/local-stack.ts";
import type { LoadtestOptions, ScenarioDefaults } from "../run/options.ts";
import type { SummaryRow } from "../run/summary.ts";

/** Where the load goes: a deployment named on the command line, or the local stack. */
export interface Target {
  natsUrl: string;
  /** http(s)://host:port of each gateway; empty: no feed, no order → frame latency. */
  gatewayUrls: string[];
  jwtSecret: string | null;
  /** The processes the run started (null against a deployment). */
  local: LocalStack | null;
}

export interface ScenarioContext {
  scenario: string;
  options: LoadtestOptions;
  config: Config;
  target: Target;
  /** The scenario's own flags, as given. */
  flags: Flags;
  /** Aborted on SIGINT/SIGTERM: the load stops early, and the run still writes what it saw. */
  interrupted: AbortSignal;
  /** Progress (stderr). */
  log(msg: string): void;
  /** The live lines (stdout). */
  print(line: string): void;
}

/** A pass/fail check of the scenario beyond the SLO (chaos: the verifier). */
export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export interface ScenarioOutcome {
  load: LoadOutcome;
  checks: Check[];
  /** Scenario-specific figures for the JSON result and the report's notes. */
  notes: string[];
  /** What the scenario's own flags came to, for the result file. */
  settings: Record<string, unknown>;
  /** What the timeline's sent / acknowledged count: orders (the default), or a drop's claims. */
  item?: "orders" | "claims";
  /** The scenario's own figures for the JSON result (a drop's counts); absent: null there. */
  figures?: Record<string, unknown>;
  /** Its rows for the final table, in place of the order rows. */
  rows?: SummaryRow[];
  /** What --slo-min-rate judges instead of orders acknowledged per second. */
  rate?: { perSec: number; verb: string; unit: string };
}

export interface Scenario {
  name: string;
  summary: string;
  /** Flags of this scenario only, and their help lines. */
  flags: FlagSpec;
  flagsHelp: string;
  defaults: ScenarioDefaults;
  /** Refused against a deployment (it kills processes it must have started itself). */
  localOnly: boolean;
  /** Refused without a gateway. */
  needsGateway: boolean;
  /** Checks its own flags before anything starts (throws UsageError). */
  validate?(flags: Flags, options: LoadtestOptions): void;
  run(ctx: ScenarioContext): Promise<ScenarioOutcome>;
}
