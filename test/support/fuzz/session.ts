/**
 * The gateways under test, watched while the fuzzer talks to them: what each request got back and what is wrong
 * with it, the gateway's log line for it, process-level errors in this process, gateway processes that exited, and
 * the event loops (watch.ts).
 */
import { AsyncLocalStorage } from "node:async_hooks"
import { checkResponse } from "./check.ts"
import { reproducer, summary } from "./reproducer.ts"
import { type FuzzRequest, routeOf, type Scenario, type Target } from "./request.ts"
import { describeError, sendInProcess, sendOverSocket, sleep } from "./send.ts"
import type { FuzzGateway, FuzzTargets } from "./targets.ts"
import { watchEventLoop, watchFromOutside } from "./watch.ts"

/** Which request an unhandled-error log line belongs to: in-process requests carry their id across awaits. */
const requestScope = new AsyncLocalStorage<number>()

type DefectLog = { readonly at: number; readonly requestId: number | undefined; readonly line: string }

/**
 * The gateway logs a defect that reached Hono's onError ("unhandled error: <stack>") through its log: keep those
 * lines, by request (a gateway in another process writes them to its output: matched by time).
 */
const captureDefectLogs = (gateways: Partial<Record<Target, FuzzGateway>>) => {
  const logs: Array<DefectLog> = []
  for (const gateway of Object.values(gateways)) {
    gateway.onLog((line) => {
      const defect = line.indexOf("unhandled error: ")
      const requestId = gateway.fetch === undefined ? undefined : requestScope.getStore()
      if (defect >= 0) logs.push({ at: performance.now(), requestId, line: line.slice(defect) })
    })
  }
  return logs
}

export class FuzzSession {
  readonly targetNames: ReadonlyArray<Target>
  /** What was in flight to each gateway whose process exited, when it did: one of them is likely the cause. */
  readonly inFlightAtExit = new Map<Target, Scenario>()
  readonly eventLoop: ReturnType<typeof watchEventLoop>
  private readonly targets: FuzzTargets
  private readonly logs: Array<DefectLog>
  private readonly inFlight = new Map<number, FuzzRequest>()
  private readonly crashes: Array<string> = []
  private readonly onCrash = (error: unknown) => this.crashes.push(describeError(error))
  private nextRequestId = 0

  constructor(targets: FuzzTargets) {
    this.targets = targets
    const { gateways, reach } = targets
    this.targetNames = (Object.keys(gateways) as Array<Target>).filter((name) => gateways[name] !== undefined)
    this.logs = captureDefectLogs(gateways)
    for (const target of this.targetNames) {
      gateways[target]!.process?.onExit(() => this.inFlightAtExit.set(target, this.inFlightTo(target)))
    }
    process.on("uncaughtException", this.onCrash)
    process.on("unhandledRejection", this.onCrash)
    this.eventLoop = reach.inProcess
      ? watchEventLoop(() => [...this.inFlight.values()].map(summary))
      : watchFromOutside(gateways, (target) => this.inFlightTo(target).map(summary))
  }

  private inFlightTo(target: Target) {
    return [...this.inFlight.values()].filter((request) => request.target === target)
  }

  /** How the target's process exited, as a problem; `undefined` while it runs (or when it is this process). */
  exitOf(target: Target): string | undefined {
    const exit = this.targets.gateways[target]!.process?.exited()
    return exit && `process-level error: the ${target} gateway's process exited (${exit})`
  }

  /** A gateway's process gone: the requests after it would all fail the same way, and shrinking needs it alive. */
  anyExited(): boolean {
    return this.targetNames.some((target) => this.exitOf(target) !== undefined)
  }

  /** Sends one request and says what is wrong with it, with the gateway's log line for it. */
  async exchange(request: FuzzRequest) {
    const id = this.nextRequestId++
    const gateway = this.targets.gateways[request.target]!
    const from = performance.now()
    const crashesBefore = this.crashes.length
    this.inFlight.set(id, request)
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
    this.inFlight.delete(id)
    const exit = this.exitOf(request.target)
    const stall = await this.eventLoop.stallDuring(request.target, from, to)
    const log = this.logs.find((entry) => entry.requestId === id) ??
      (request.transport === "socket"
        ? this.logs.find((entry) => entry.requestId === undefined && entry.at >= from && entry.at <= to)
        : undefined)
    const problem = this.crashes.length > crashesBefore
      ? `process-level error: ${this.crashes[crashesBefore]!.split("\n")[0]}`
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

  /** What tells one failure from another: the route, the problem, and where a logged stack points. */
  signatureOf(request: FuzzRequest, problem: string, log: string): string {
    // One exit is one finding, whichever request saw it first.
    if (this.targetNames.some((target) => problem === this.exitOf(target))) return problem
    // The first line of a logged stack and its first frame in the gateway's code tell two 500s apart.
    const lines = log.replace(/^unhandled error: /, "").split("\n")
    const frame = lines.find((line) => line.includes("/core/"))?.replace(/.*\/core\//, "core/").replace(/\)$/, "")
    const where = routeOf(request)
    const cause = lines[0] ? ` — ${lines[0].slice(0, 160)}${frame ? ` at ${frame}` : ""}` : ""
    return `${where}: ${problem}${cause}`
  }

  /** A scenario as commands a person can paste, for this run's runtime. */
  reproducer(scenario: Scenario): string {
    return reproducer(scenario, this.targets.runtime)
  }

  async stop(): Promise<void> {
    await this.eventLoop.stop()
    process.off("uncaughtException", this.onCrash)
    process.off("unhandledRejection", this.onCrash)
  }
}
