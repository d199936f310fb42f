// Watching the event loops while the fuzzer runs: this process's by a timer, a gateway's in another process by
// /healthz probes from outside, each stall told apart from the machine being busy; and a liveness prober.
import { readFileSync } from "node:fs"
import http from "node:http"
import type { Target } from "./request.ts"
import { describeError, sleep } from "./send.ts"
import type { FuzzGateway } from "./targets.ts"

const STALL_MS = 1_000

export interface Stall {
  readonly from: number
  readonly to: number
  /** The gateway whose loop was blocked, when it runs in a process of its own; otherwise this process's loop. */
  readonly target?: Target
  /** The requests in flight while the loop was blocked: one of them (or the gateway itself) blocked it. */
  readonly inFlight: ReadonlyArray<string>
}

/**
 * Gaps in a 10 ms timer: how long the event loop (the gateways' and this file's) was blocked, and when. A gap in
 * which this process got under half a core is the machine being busy (2 cores shared), not the gateway's doing:
 * it is kept apart, as `starved`.
 */
export const watchEventLoop = (inFlight: () => ReadonlyArray<string>) => {
  const stalls: Array<Stall> = []
  const starved: Array<{ readonly from: number; readonly to: number }> = []
  let last = performance.now()
  let lastCpu = process.cpuUsage()
  const timer = setInterval(() => {
    const now = performance.now()
    const cpu = process.cpuUsage(lastCpu)
    if (now - last > STALL_MS) {
      const cpuMs = (cpu.user + cpu.system) / 1000
      if (cpuMs < (now - last) / 2) starved.push({ from: last, to: now })
      else stalls.push({ from: last, to: now, inFlight: inFlight() })
    }
    last = now
    lastCpu = process.cpuUsage()
  }, 10)
  return {
    stallDuring: (_target: Target, from: number, to: number) =>
      Promise.resolve(stalls.find((stall) => stall.to >= from && stall.from <= to)),
    stalls,
    starved,
    stop: () => clearInterval(timer)
  }
}

/** CPU time a process has used, in ms (Linux: utime + stime from /proc, in ticks of 10 ms); undefined elsewhere. */
const cpuMsOf = (pid: number): number | undefined => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/**
 * A gateway in another process has no timer in this one: its loop is watched from outside, by `GET /healthz` on a
 * fresh connection every 100 ms. A probe over 1 s during which the gateway's process used at least half a core is
 * its loop blocked; one in which it hardly ran, or in which this process's own loop stood still (the prober), is
 * the machine being busy: `starved`.
 */
export const watchFromOutside = (
  gateways: Partial<Record<Target, FuzzGateway>>,
  inFlight: (target: Target) => ReadonlyArray<string>
) => {
  const prober = watchEventLoop(() => [])
  const stalls: Array<Stall> = []
  const starved: Array<{ readonly from: number; readonly to: number }> = []
  const probing = new Map<Target, { readonly from: number; readonly done: Promise<unknown> }>()
  let stopped = false
  const watch = async (target: Target, gateway: FuzzGateway, pid: number) => {
    while (!stopped && gateway.process?.exited() === undefined) {
      const cpuBefore = cpuMsOf(pid)
      const from = performance.now()
      const suspects = inFlight(target)
      const done = probeOnce(gateway.url)
      probing.set(target, { from, done })
      await done
      const to = performance.now()
      if (to - from > STALL_MS) {
        const cpuAfter = cpuMsOf(pid)
        const proberStood = [...prober.stalls, ...prober.starved].some((gap) => gap.to >= from && gap.from <= to)
        const ran = cpuBefore === undefined || cpuAfter === undefined || cpuAfter - cpuBefore >= (to - from) / 2
        if (proberStood || !ran) starved.push({ from, to })
        else stalls.push({ from, to, target, inFlight: [...new Set([...suspects, ...inFlight(target)])] })
      }
      probing.delete(target)
      await sleep(100)
    }
  }
  const watching = Object.entries(gateways).flatMap(([target, gateway]) =>
    gateway?.process ? [watch(target as Target, gateway, gateway.process.pid)] : []
  )
  return {
    /** A probe under way that began before the request ended is waited for: it may be the stall that overlaps it. */
    stallDuring: async (target: Target, from: number, to: number) => {
      const probe = probing.get(target)
      if (probe && probe.from <= to) await probe.done
      return stalls.find((stall) => stall.target === target && stall.to >= from && stall.from <= to)
    },
    stalls,
    starved,
    stop: () => {
      stopped = true
      prober.stop()
      return Promise.all(watching)
    }
  }
}

/** One `GET /healthz` on a connection of its own, as Kubernetes' probes do: its status, or why there was none. */
const probeOnce = (baseUrl: string) =>
  new Promise<{ readonly status: number } | { readonly error: string }>((resolve) => {
    const request = http.get(`${baseUrl}/healthz`, { agent: false, timeout: 10_000 }, (response) => {
      response.resume()
      response.on("end", () => resolve({ status: response.statusCode ?? 0 }))
    })
    request.on("timeout", () => request.destroy(new Error("timed out after 10 s")))
    request.on("error", (error) => resolve({ error: describeError(error) }))
  })

/** `GET /healthz` on a timer over its own connection, as a liveness probe would, with each round trip's time. */
export const probeHealthz = (baseUrl: string, everyMs = 100) => {
  const latencies: Array<number> = []
  const slow: Array<{ readonly from: number; readonly to: number }> = []
  const failures: Array<string> = []
  let stopped = false
  const probe = async () => {
    while (!stopped) {
      const started = performance.now()
      const answer = await probeOnce(baseUrl)
      const ended = performance.now()
      if ("error" in answer) failures.push(answer.error)
      else {
        latencies.push(ended - started)
        if (ended - started >= 1_000) slow.push({ from: started, to: ended })
        if (answer.status !== 200) failures.push(`status ${answer.status}`)
      }
      await sleep(everyMs)
    }
  }
  const running = probe()
  return {
    stop: async () => {
      stopped = true
      await running
      return { ...percentiles(latencies), failures, slow }
    }
  }
}

export const percentiles = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) =>
    sorted.length === 0
      ? Number.NaN
      : Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2))
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) }
}
