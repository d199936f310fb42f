/**
 * The reliability fuzzer's run, shared by test/reliability/fuzz.test.ts, fuzz.e2e.ts and bench/fuzz.ts: generated
 * hostile requests (generate.ts) sent in-process or over loopback sockets (send.ts) to the gateways under test
 * (targets.ts), each response checked (check.ts) and the event loops watched (watch.ts), all in one session
 * (session.ts); the run keeps going after a failure so one run lists every distinct defect, each shrunk to a small
 * reproducer (reproducer.ts).
 */
import fc from "fast-check"
import { fuzzScenario } from "./generate.ts"
import type { Scenario, Target } from "./request.ts"
import { FuzzSession } from "./session.ts"
import type { FuzzTargets } from "./targets.ts"

/** Shrinking one failure stops after this long (a blocked loop costs seconds a try); the run goes on. */
const SHRINK_BUDGET_MS = 12_000

export interface Finding {
  readonly signature: string
  /** The shrunk failing scenario, as commands a person can paste. */
  readonly reproducer: string
  /** The gateway's own log line for it (the stack of an unhandled error), when it wrote one. */
  readonly log: string
  /** How many requests of the sweep failed this way. */
  readonly occurrences: number
  /** Whether the shrunk scenario failed again when re-run alone (a stall may only have been nearby). */
  readonly reproduced: boolean
}

export interface FuzzOptions {
  readonly seed: number
  /** Requests in the sweep (shrinking sends more, counted apart). */
  readonly requests: number
  readonly workers: number
  readonly targets: FuzzTargets
  /** Stop the sweep early, whatever the count, after this long. */
  readonly timeLimitMs: number
  readonly onProgress?: (line: string) => void
}

export interface FuzzResult {
  readonly seed: number
  readonly requests: number
  readonly shrinkRequests: number
  readonly elapsedMs: number
  readonly statusCounts: Record<string, number>
  readonly transportCounts: Record<string, number>
  readonly findings: ReadonlyArray<Finding>
  /** Every time the event loop was blocked over 1 s, relative to the start of the run (`target`: whose process). */
  readonly stalls: ReadonlyArray<
    {
      readonly atMs: number
      readonly blockedMs: number
      readonly target?: Target
      readonly inFlight: ReadonlyArray<string>
    }
  >
  /** Gaps over 1 s in which the gateway's process hardly ran (other processes had the cores), in performance.now() time. */
  readonly starved: ReadonlyArray<{ readonly from: number; readonly to: number }>
}

/** A failure's first occurrence in the sweep: the run that hit it, to replay and shrink. */
interface FirstFailure {
  readonly seed: number
  readonly path: string
  readonly scenario: Scenario
  readonly log: string
}

/** A run in progress: its session and scenarios, and what it has counted and found so far. */
interface FuzzRun {
  readonly options: FuzzOptions
  readonly session: FuzzSession
  readonly scenarios: ReturnType<typeof fuzzScenario>
  readonly started: number
  requests: number
  shrinkRequests: number
  readonly statusCounts: Record<string, number>
  readonly transportCounts: Record<string, number>
  readonly occurrences: Record<string, number>
  readonly firstFailures: Map<string, FirstFailure>
  readonly findings: Array<Finding>
}

const count = (tally: Record<string, number>, key: string) => (tally[key] = (tally[key] ?? 0) + 1)

const timeLeft = (run: FuzzRun) => run.options.timeLimitMs - (performance.now() - run.started)

/** One worker's fast-check run of `runs` scenarios from its own seed, counting answers and recording failures. */
const sweep = async (run: FuzzRun, worker: number, runs: number) => {
  const seed = run.options.seed + worker * 1_000
  let runIndex = 0
  const property = fc.asyncProperty(run.scenarios, async (scenario) => {
    const path = String(runIndex++)
    if (timeLeft(run) <= 0 || run.session.anyExited()) return
    for (const request of scenario) {
      const result = await run.session.exchange(request)
      run.requests++
      count(run.statusCounts, result.observed.status === 0 ? "no response" : String(result.observed.status))
      count(run.transportCounts, request.transport)
      if (result.problem === undefined) continue
      const signature = run.session.signatureOf(request, result.problem, result.log)
      count(run.occurrences, signature)
      if (!run.firstFailures.has(signature)) {
        run.firstFailures.set(signature, { seed, path, scenario, log: result.log })
        run.options.onProgress?.(`found: ${signature}`)
      }
    }
  })
  await fc.check(property, { seed, numRuns: runs })
}

/**
 * Nothing to replay against (a gateway's process is gone): the failing scenario as it was sent (for an exit, every
 * request in flight then), with the process's last output.
 */
const reportAsSent = (run: FuzzRun, signature: string, first: FirstFailure) => {
  const exited = run.session.targetNames.find((target) => signature === run.session.exitOf(target))
  const scenario = (exited && run.session.inFlightAtExit.get(exited)) || first.scenario
  run.findings.push({
    signature,
    reproducer: run.session.reproducer(scenario),
    log: first.log.split("\n").slice(-12).join("\n"),
    occurrences: run.occurrences[signature] ?? 1,
    reproduced: false
  })
}

/** Replays a failure's run from its seed and path, alone, and shrinks it for at most SHRINK_BUDGET_MS. */
const shrink = async (run: FuzzRun, signature: string, first: FirstFailure) => {
  if (run.session.anyExited()) return reportAsSent(run, signature, first)
  const until = performance.now() + SHRINK_BUDGET_MS
  let log = first.log
  const property = fc.asyncProperty(run.scenarios, async (scenario) => {
    // Out of time: every further candidate passes, so the smallest failure so far is the one reported.
    if (performance.now() > until) return
    for (const request of scenario) {
      const result = await run.session.exchange(request)
      run.shrinkRequests++
      if (result.problem !== undefined && run.session.signatureOf(request, result.problem, result.log) === signature) {
        log = result.log || log
        throw new Error(signature)
      }
    }
  })
  const details = await fc.check(property, { seed: first.seed, path: first.path })
  const reproduced = details.failed && details.counterexample !== null
  // A request that was only in flight while another one blocked the loop: the culprit has its own finding.
  if (!reproduced && signature.includes("event loop blocked")) return
  run.findings.push({
    signature,
    reproducer: run.session.reproducer(reproduced ? details.counterexample![0] : first.scenario),
    log: log.split("\n").slice(0, 6).join("\n"),
    occurrences: run.occurrences[signature] ?? 1,
    reproduced
  })
  run.options.onProgress?.(`shrunk: ${signature}${reproduced ? "" : " (did not fail again alone)"}`)
}

/** The sweep: every worker's run at once, then extra runs until the request count is reached (or time is up). */
const sweepAll = async (run: FuzzRun) => {
  const { options } = run
  // Scenarios are one request or two (1.25 on average); a last run tops the count up.
  const perWorker = Math.ceil(options.requests / options.workers / 1.25)
  await Promise.all(Array.from({ length: options.workers }, (_, worker) => sweep(run, worker, perWorker)))
  for (
    let extra = options.workers;
    run.requests < options.requests && timeLeft(run) > 0 && !run.session.anyExited();
    extra++
  ) {
    await sweep(run, extra, Math.ceil((options.requests - run.requests) / 1.25))
  }
}

/**
 * Sends `requests` generated requests from `workers` concurrent fast-check runs, each with its own seed, so the
 * requests sent are the same every run. The sweep records each failure's first occurrence by signature; afterwards,
 * alone (so a blocked loop is the request's own doing), each is replayed from its seed and path and shrunk.
 */
export const runFuzz = async (options: FuzzOptions): Promise<FuzzResult> => {
  const session = new FuzzSession(options.targets)
  const run: FuzzRun = {
    options,
    session,
    scenarios: fuzzScenario(session.targetNames, options.targets.reach),
    started: performance.now(),
    requests: 0,
    shrinkRequests: 0,
    statusCounts: {},
    transportCounts: {},
    occurrences: {},
    firstFailures: new Map(),
    findings: []
  }
  let sweepRequests = 0
  try {
    const progress = setInterval(
      () => options.onProgress?.(`${run.requests} requests, ${run.firstFailures.size} distinct failures`),
      10_000
    )
    await sweepAll(run)
    sweepRequests = run.requests
    for (const signature of [...run.firstFailures.keys()].sort()) {
      await shrink(run, signature, run.firstFailures.get(signature)!)
    }
    clearInterval(progress)
  } finally {
    await session.stop()
  }
  const { started } = run
  const { eventLoop } = session
  return {
    seed: options.seed,
    requests: sweepRequests,
    shrinkRequests: run.shrinkRequests,
    elapsedMs: Math.round(performance.now() - started),
    statusCounts: run.statusCounts,
    transportCounts: run.transportCounts,
    findings: run.findings,
    starved: eventLoop.starved,
    stalls: eventLoop.stalls.map((stall) => ({
      atMs: Math.round(stall.from - started),
      blockedMs: Math.round(stall.to - stall.from),
      ...(stall.target ? { target: stall.target } : {}),
      inFlight: stall.inFlight
    }))
  }
}
