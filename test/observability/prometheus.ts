import assert from "node:assert/strict"
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { eventually } from "../support/eventually.ts"

/** A free loopback port, found by binding to port 0. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

export interface Sample {
  readonly metric: Record<string, string>
  readonly value: number
}

export interface RunningPrometheus {
  readonly url: string
  /** An instant query through the HTTP API, at `time` (seconds) when given. */
  query(expression: string, time?: number): Promise<Array<Sample>>
  /** Polls `expression` until `done` holds for its result. */
  waitFor(expression: string, done: (samples: Array<Sample>) => boolean): Promise<Array<Sample>>
  stop(): Promise<void>
}

/**
 * Debian's `prometheus` on a free loopback port, with a generated configuration that scrapes `targets` (host:port)
 * every second: the real server an operator runs, with its own PromQL engine.
 */
export const startPrometheus = async (
  targets: ReadonlyArray<{ readonly job: string; readonly target: string; readonly bearer?: string }>
): Promise<RunningPrometheus> => {
  const dir = mkdtempSync(join(tmpdir(), "isartor-prometheus-"))
  const config = join(dir, "prometheus.yml")
  writeFileSync(
    config,
    [
      "global:",
      "  scrape_interval: 1s",
      "  evaluation_interval: 1s",
      "scrape_configs:",
      ...targets.flatMap(({ bearer, job, target }) => [
        `  - job_name: ${JSON.stringify(job)}`,
        ...(bearer ? ["    authorization:", `      credentials: ${JSON.stringify(bearer)}`] : []),
        "    static_configs:",
        `      - targets: [${JSON.stringify(target)}]`
      ])
    ].join("\n") + "\n"
  )
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  let output = ""
  const child: ChildProcess = spawn("prometheus", [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, "data")}`,
    `--web.listen-address=127.0.0.1:${port}`
  ], { stdio: ["ignore", "pipe", "pipe"] })
  child.stdout?.on("data", (chunk) => (output += chunk))
  child.stderr?.on("data", (chunk) => (output += chunk))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))

  const query = async (expression: string, time?: number): Promise<Array<Sample>> => {
    const params = new URLSearchParams({ query: expression, ...(time === undefined ? {} : { time: String(time) }) })
    const response = await fetch(`${url}/api/v1/query?${params}`)
    const body = await response.json() as {
      status: string
      error?: string
      data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }
    }
    if (body.status !== "success") throw new Error(`PromQL ${expression}: ${body.error}`)
    if (body.data?.resultType === "scalar") {
      const [, value] = body.data.result as unknown as [number, string]
      return [{ metric: {}, value: Number(value) }]
    }
    return (body.data?.result ?? []).map(({ metric, value }) => ({ metric, value: Number(value[1]) }))
  }

  const stop = async () => {
    child.kill("SIGTERM")
    await exited
    rmSync(dir, { recursive: true, force: true })
  }

  /** Waits (a minute at most: scrapes come every few seconds) until `done` holds for what `expression` returns. */
  const waitFor = async (expression: string, done: (samples: Array<Sample>) => boolean) => {
    try {
      return await eventually(async () => {
        const samples = await query(expression)
        assert.ok(done(samples), `not yet: ${JSON.stringify(samples)}`)
        return samples
      }, { what: `Prometheus to satisfy ${expression}`, timeoutMs: 60_000, intervalMs: 100 })
    } catch (error) {
      throw new Error(`${(error as Error).message}; its log:\n${output}`)
    }
  }

  try {
    await eventually(() => fetch(`${url}/-/ready`).then((response) => response.ok, () => false), {
      what: "prometheus to be ready",
      timeoutMs: 30_000,
      intervalMs: 100,
      failFast: () => (child.exitCode === null ? undefined : `it exited with code ${child.exitCode}`)
    })
  } catch (error) {
    await stop()
    throw new Error(`prometheus did not start (${(error as Error).message}):\n${output}`)
  }
  return { url, query, waitFor, stop }
}

/** `promtool check …`: its exit status and what it printed. */
export const promtool = (args: ReadonlyArray<string>, input?: string) => {
  const result = spawnSync("promtool", args, { input: input ?? "", encoding: "utf8" })
  return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` }
}
