// The fuzzer of fuzz.test.ts against the gateways served by Bun's and Deno's own servers, each in a process of its
// own (open, secured and semantic, on the same fake upstream in this process): every request over a loopback
// socket, the gateways' event loops watched from outside through /healthz, the same checks.
import { semanticBackends } from "../../runtimes/shared.ts"
import { describeFuzzRun } from "../support/fuzz/suite.ts"

// Half Node's count: every request here is a real connection through two processes (no in-process shortcut) on
// cores the suite shares, and both runs must fit the end-to-end budget with room for a busy machine. The same seed
// and generator: their requests are the first of the same sequence.
for (const runtime of ["bun", "deno"] as const) {
  // The backends only say to start the semantic gateway: each runtime's entry point loads its own.
  describeFuzzRun({ runtime, requests: 5_000, timeLimitMs: 60_000 }, semanticBackends(process.env))
}
