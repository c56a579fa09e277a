// `tierstream feed`: watch a member's live feed from the terminal (the member-app client).

import { FeedClient } from "../../gateway/client/index.ts";
import { type Command, numberFlag, parseFlags, untilSignal, UsageError } from "./command.ts";

export const feedCommand: Command = {
  name: "feed",
  summary: "watch one member's live feed (hello, tier, score, benefit frames)",
  help: `usage: tierstream feed --url URL --token TOKEN [--since SEQ]

Connects like a member app does (the dependency-free client in gateway/client/), prints every
frame as one JSON line, reconnects with jittered backoff and resumes with since. Ctrl-C stops.

flags:
  --url URL       the gateway's feed, e.g. ws://127.0.0.1:8080/v1/feed
  --token TOKEN   the member's token (tierstream token --member N mints one)
  --since SEQ     replay the tier changes after this seq first`,

  async run(argv) {
    const { flags } = parseFlags(argv, { url: { type: "string" }, token: { type: "string" }, since: { type: "string" } });
    if (!flags.url || !flags.token) throw new UsageError("feed needs --url and --token");
    const since = flags.since === undefined ? undefined : numberFlag(flags, "since", 0, 0, Number.MAX_SAFE_INTEGER);
    const client = new FeedClient({
      url: flags.url as string,
      token: flags.token as string,
      since,
      onFrame: (frame) => console.log(JSON.stringify(frame)),
      onStatus: (status) => console.error(`feed: ${status}`),
    });
    await untilSignal();
    client.close();
    return 0;
  },
};
