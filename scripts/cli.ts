// tierstream — one CLI for every process: `tierstream <command> [flags]`, `--help` on each.

import { benefitCommand } from "./commands/benefit.ts";
import { engineCommand } from "./commands/engine.ts";
import { demoCommand } from "./commands/demo.ts";
import { gatewayCommand } from "./commands/gateway.ts";
import { feedCommand } from "./commands/feed.ts";
import { loadtestCommand } from "./commands/loadtest.ts";
import { streamsCommand } from "./commands/streams.ts";
import { tokenCommand } from "./commands/token.ts";
import { verifyCommand } from "./commands/verify.ts";
import type { Command } from "./commands/command.ts";

const COMMANDS: Command[] = [engineCommand, gatewayCommand, demoCommand, loadtestCommand, verifyCommand, benefitCommand, streamsCommand, feedCommand, tokenCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "usage: tierstream <command> [flags]",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `tierstream <command> --help` for a command's flags.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    console.error(`tierstream: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.help);
    return 0;
  }
  return command.run(rest);
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  // A process that cannot start says why in one line and exits non-zero.
  console.error(`tierstream: ${(err as Error).message.split("\n")[0]}`);
  process.exit(1);
}
