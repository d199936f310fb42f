// 2,000 generated requests (fixed seed) against three gateways in this process on a loopback fake upstream — open,
// secured by a gateway key, and with the semantic cache on the real model — on every route, with hostile bodies and
// headers, most in-process through the gateway's fetch, a share over real sockets (chunked, slow, oversized). A
// failure is shrunk by fast-check and printed as curl commands; the run goes on, so one run lists every distinct
// defect. The same seed's first 10,000 requests in fuzzLong.e2e.ts, and on Bun's and Deno's own servers in
// fuzz.e2e.ts: this is the share that keeps `npm test` quick.
import { semanticBackends } from "../../runtimes/shared.ts"
import { describeFuzzRun } from "../support/fuzz/suite.ts"

describeFuzzRun(
  { runtime: "node", requests: 2_000, timeLimitMs: 90_000 },
  semanticBackends(process.env, new URL("../../runtimes/embedding/worker-node.mjs", import.meta.url))
)
