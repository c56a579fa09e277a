// Every scenario `tierstream loadtest` knows, in the order --help lists them. A new one is a
// file beside these and one line here.

import { chaosScenario } from "./chaos.ts";
import { dropScenario } from "./drop.ts";
import { feedScenario } from "./feed.ts";
import type { Scenario } from "./scenario.ts";
import { spikeScenario } from "./spike.ts";
import { steadyScenario } from "./steady.ts";

export const SCENARIOS: readonly Scenario[] = [steadyScenario, spikeScenario, feedScenario, chaosScenario, dropScenario];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
