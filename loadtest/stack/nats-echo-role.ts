// The NATS floor: a process that answers every request on one subject with its own bytes,
//   bun loadtest/stack/nats-echo-role.ts <natsUrl> <subject>
// so that a request from another process and its reply cross nats-server twice (four process
// hops) with no work at either end. The feed benchmark times that beside the tier-frame path,
// which crosses nats-server at every stage.

import { connect } from "@nats-io/transport-node";
import { serveRole } from "./role.ts";

const [natsUrl, subject] = process.argv.slice(2);
const nc = await connect({ servers: natsUrl, name: "bench-echo" });
nc.subscribe(subject, {
  callback: (_err, msg) => {
    msg.respond(msg.data);
  },
});
await nc.flush();
serveRole({ pid: process.pid }, {}, async () => {
  await nc.drain().catch(() => {});
});
