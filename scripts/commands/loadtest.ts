// `tierstream loadtest <scenario>`: the SRE's load-test tool (loadtest/run/main.ts).

import { loadtestHelp, runLoadtest } from "../../loadtest/run/main.ts";
import { type Command, UsageError } from "./command.ts";

export const loadtestCommand: Command = {
  name: "loadtest",
  summary: "drive a deployment (or a local stack) with realistic load: steady, spike, feed, chaos, drop",
  get help() {
    return loadtestHelp();
  },
  async run(argv) {
    try {
      return await runLoadtest(argv);
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      console.error(`tierstream loadtest: ${err.message} (see tierstream loadtest --help)`);
      return 2;
    }
  },
};
