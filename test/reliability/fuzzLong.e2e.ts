// fuzz.test.ts's run at five times the length: 10,000 generated requests (the same seed, so its first 2,000 are
// fuzz.test.ts's) against the three gateways in this process. In the end-to-end suite for its length alone.
import { semanticBackends } from "../../runtimes/shared.ts"
import { describeFuzzRun } from "../support/fuzz/suite.ts"

describeFuzzRun(
  { runtime: "node", requests: 10_000, timeLimitMs: 150_000 },
  semanticBackends(process.env, new URL("../../runtimes/embedding/worker-node.mjs", import.meta.url))
)
