/**
 * The reliability fuzzer's run, shared by test/reliability/fuzz.test.ts, fuzz.e2e.ts and bench/fuzz.ts: generated
 * hostile requests (generate.ts) sent in-process or over loopback sockets (send.ts) to the gateways under test
 * (targets.ts), each response checked (check.ts) and the event loops watched (watch.ts); the run keeps going after a
 * failure so one run lists every distinct defect, each shrunk to a small reproducer (reproducer.ts).
 */
import fc from "fast-check"
import { AsyncLocalStorage } from "node:async_hooks"
import { checkResponse } from "./check.ts"
import { fuzzScenario } from "./generate.ts"
import { reproducer, summary } from "./reproducer.ts"
import { type FuzzRequest, routeOf, type Scenario, type Target } from "./request.ts"
import { describeError, sendInProcess, sendOverSocket, sleep } from "./send.ts"
import type { FuzzTargets } from "./targets.ts"
import { watchEventLoop, watchFromOutside } from "./watch.ts"

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

/** Which request an unhandled-error log line belongs to: in-process requests carry their id across awaits. */
const requestScope = new AsyncLocalStorage<number>()

/**
 * Sends `requests` generated requests from `workers` concurrent fast-check runs, each with its own seed, so the
 * requests sent are the same every run. The sweep records each failure's first occurrence by signature; afterwards,
 * alone (so a blocked loop is the request's own doing), each is replayed from its seed and path and shrunk.
 */
export const runFuzz = async (options: FuzzOptions): Promise<FuzzResult> => {
  const { gateways, runtime, reach } = options.targets
  const targetNames = (Object.keys(gateways) as Array<Target>).filter((name) => gateways[name] !== undefined)
  const scenarios = fuzzScenario(targetNames, reach)
  const findings: Array<Finding> = []
  const statusCounts: Record<string, number> = {}
  const transportCounts: Record<string, number> = {}
  let requests = 0
  let sweepRequests = 0
  let shrinkRequests = 0
  let nextRequestId = 0
  const started = performance.now()
  const timeLeft = () => options.timeLimitMs - (performance.now() - started)
  const exitOf = (target: Target) => {
    const exit = gateways[target]!.process?.exited()
    return exit && `process-level error: the ${target} gateway's process exited (${exit})`
  }
  // A gateway's process gone: the requests after it would all fail the same way, and shrinking needs it alive.
  const anyExited = () => targetNames.some((target) => exitOf(target) !== undefined)
  /** What was in flight to each gateway whose process exited, when it did: one of them is likely the cause. */
  const inFlightAtExit = new Map<Target, Scenario>()

  // The gateway logs a defect that reached Hono's onError ("unhandled error: <stack>") through its log: keep those
  // lines, by request (a gateway in another process writes them to its output: matched by time).
  const logs: Array<{ readonly at: number; readonly requestId: number | undefined; readonly line: string }> = []
  for (const gateway of Object.values(gateways)) {
    gateway.onLog((line) => {
      const defect = line.indexOf("unhandled error: ")
      const requestId = gateway.fetch === undefined ? undefined : requestScope.getStore()
      if (defect >= 0) logs.push({ at: performance.now(), requestId, line: line.slice(defect) })
    })
  }
  const inFlight = new Map<number, FuzzRequest>()
  for (const target of targetNames) {
    gateways[target]!.process?.onExit(() =>
      inFlightAtExit.set(target, [...inFlight.values()].filter((request) => request.target === target))
    )
  }
  const crashes: Array<string> = []
  const onCrash = (error: unknown) => crashes.push(describeError(error))
  process.on("uncaughtException", onCrash)
  process.on("unhandledRejection", onCrash)
  const eventLoop = reach.inProcess
    ? watchEventLoop(() => [...inFlight.values()].map(summary))
    : watchFromOutside(
      gateways,
      (target) => [...inFlight.values()].filter((request) => request.target === target).map(summary)
    )

  /** Sends one request and says what is wrong with it, with the gateway's log line for it. */
  const exchange = async (request: FuzzRequest) => {
    const id = nextRequestId++
    const gateway = gateways[request.target]!
    const from = performance.now()
    const crashesBefore = crashes.length
    inFlight.set(id, request)
    const observed = await requestScope.run(
      id,
      () =>
        request.transport === "socket" || gateway.fetch === undefined
          ? sendOverSocket(gateway.url, request)
          : sendInProcess(gateway.fetch, request)
    )
    const to = performance.now()
    // A process that died is reaped a moment after its sockets close: the request stays in flight until then.
    if (observed.status === 0 && gateway.process) await sleep(200)
    inFlight.delete(id)
    const exit = exitOf(request.target)
    const stall = await eventLoop.stallDuring(request.target, from, to)
    const log = logs.find((entry) => entry.requestId === id) ??
      (request.transport === "socket"
        ? logs.find((entry) => entry.requestId === undefined && entry.at >= from && entry.at <= to)
        : undefined)
    const problem = crashes.length > crashesBefore
      ? `process-level error: ${crashes[crashesBefore]!.split("\n")[0]}`
      : exit !== undefined
      ? exit
      : checkResponse(request, observed) ?? (stall ? "event loop blocked over 1 s" : undefined)
    // Only a 500 or a lost response comes with a log line of its own; a 4xx is never the cause of one.
    const logged = exit !== undefined
      ? gateway.process!.output().slice(-2_000)
      : observed.status === 500 || observed.status === 0
      ? log?.line ?? ""
      : ""
    return { observed, problem, log: logged }
  }

  const signatureOf = (request: FuzzRequest, problem: string, log: string) => {
    // One exit is one finding, whichever request saw it first.
    if (targetNames.some((target) => problem === exitOf(target))) return problem
    // The first line of a logged stack and its first frame in the gateway's code tell two 500s apart.
    const lines = log.replace(/^unhandled error: /, "").split("\n")
    const frame = lines.find((line) => line.includes("/core/"))?.replace(/.*\/core\//, "core/").replace(/\)$/, "")
    const where = routeOf(request)
    const cause = lines[0] ? ` — ${lines[0].slice(0, 160)}${frame ? ` at ${frame}` : ""}` : ""
    return `${where}: ${problem}${cause}`
  }

  const count = (tally: Record<string, number>, key: string) => (tally[key] = (tally[key] ?? 0) + 1)
  const firstFailures = new Map<string, { seed: number; path: string; scenario: Scenario; log: string }>()
  const occurrences: Record<string, number> = {}

  const sweep = async (worker: number, runs: number) => {
    const seed = options.seed + worker * 1_000
    let run = 0
    const property = fc.asyncProperty(scenarios, async (scenario) => {
      const path = String(run++)
      if (timeLeft() <= 0 || anyExited()) return
      for (const request of scenario) {
        const result = await exchange(request)
        requests++
        count(statusCounts, result.observed.status === 0 ? "no response" : String(result.observed.status))
        count(transportCounts, request.transport)
        if (result.problem === undefined) continue
        const signature = signatureOf(request, result.problem, result.log)
        count(occurrences, signature)
        if (!firstFailures.has(signature)) {
          firstFailures.set(signature, { seed, path, scenario, log: result.log })
          options.onProgress?.(`found: ${signature}`)
        }
      }
    })
    await fc.check(property, { seed, numRuns: runs })
  }

  /** Replays a failure's run from its seed and path, alone, and shrinks it for at most SHRINK_BUDGET_MS. */
  const shrink = async (signature: string, first: { seed: number; path: string; scenario: Scenario; log: string }) => {
    if (anyExited()) {
      // Nothing to replay against: the failing scenario as it was sent (for an exit, every request in flight then),
      // with the process's last output.
      const exited = targetNames.find((target) => signature === exitOf(target))
      const scenario = (exited && inFlightAtExit.get(exited)) || first.scenario
      findings.push({
        signature,
        reproducer: reproducer(scenario, runtime),
        log: first.log.split("\n").slice(-12).join("\n"),
        occurrences: occurrences[signature] ?? 1,
        reproduced: false
      })
      return
    }
    const until = performance.now() + SHRINK_BUDGET_MS
    let log = first.log
    const property = fc.asyncProperty(scenarios, async (scenario) => {
      // Out of time: every further candidate passes, so the smallest failure so far is the one reported.
      if (performance.now() > until) return
      for (const request of scenario) {
        const result = await exchange(request)
        shrinkRequests++
        if (result.problem !== undefined && signatureOf(request, result.problem, result.log) === signature) {
          log = result.log || log
          throw new Error(signature)
        }
      }
    })
    const details = await fc.check(property, { seed: first.seed, path: first.path })
    const reproduced = details.failed && details.counterexample !== null
    // A request that was only in flight while another one blocked the loop: the culprit has its own finding.
    if (!reproduced && signature.includes("event loop blocked")) return
    findings.push({
      signature,
      reproducer: reproducer(reproduced ? details.counterexample![0] : first.scenario, runtime),
      log: log.split("\n").slice(0, 6).join("\n"),
      occurrences: occurrences[signature] ?? 1,
      reproduced
    })
    options.onProgress?.(`shrunk: ${signature}${reproduced ? "" : " (did not fail again alone)"}`)
  }

  try {
    const progress = setInterval(
      () => options.onProgress?.(`${requests} requests, ${firstFailures.size} distinct failures`),
      10_000
    )
    // Scenarios are one request or two (1.25 on average); a last run tops the count up.
    const perWorker = Math.ceil(options.requests / options.workers / 1.25)
    await Promise.all(Array.from({ length: options.workers }, (_, worker) => sweep(worker, perWorker)))
    for (let extra = options.workers; requests < options.requests && timeLeft() > 0 && !anyExited(); extra++) {
      await sweep(extra, Math.ceil((options.requests - requests) / 1.25))
    }
    sweepRequests = requests
    for (const signature of [...firstFailures.keys()].sort()) await shrink(signature, firstFailures.get(signature)!)
    clearInterval(progress)
  } finally {
    await eventLoop.stop()
    process.off("uncaughtException", onCrash)
    process.off("unhandledRejection", onCrash)
  }
  return {
    seed: options.seed,
    requests: sweepRequests,
    shrinkRequests,
    elapsedMs: Math.round(performance.now() - started),
    statusCounts,
    transportCounts,
    findings,
    starved: eventLoop.starved,
    stalls: eventLoop.stalls.map((stall) => ({
      atMs: Math.round(stall.from - started),
      blockedMs: Math.round(stall.to - stall.from),
      ...(stall.target ? { target: stall.target } : {}),
      inFlight: stall.inFlight
    }))
  }
}
