import autocannon from "autocannon"
import { execFile } from "node:child_process"
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"

const run = promisify(execFile)

export interface LoadResult {
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly errors: number
}

export interface LoadOptions {
  readonly url: string
  readonly body: string
  readonly connections: number
  readonly durationSecs: number
  readonly headers?: Record<string, string>
  /** Replaced in the body by a counter, so that every request is new (a cache miss). */
  readonly uniqueMarker?: string
}

export type LoadTool = "wrk" | "autocannon"

export const wrkAvailable = async (): Promise<boolean> =>
  run("wrk", ["--version"]).then(() => true, (error: { stdout?: string }) => (error.stdout ?? "").includes("wrk"))

const toMs = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000 }[unit] ?? Number.NaN)

/** wrk (C, one thread) leaves the other core to the server: the fairer tool on a 2-core machine. */
const withWrk = async (options: LoadOptions): Promise<LoadResult> => {
  const dir = await mkdtemp(join(tmpdir(), "isartor-bench-"))
  const script = join(dir, "post.lua")
  const headers = Object.entries(options.headers ?? {}).map(([name, value]) =>
    `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}\n`
  ).join("")
  const [before, after] = options.uniqueMarker ? options.body.split(options.uniqueMarker) : [options.body, undefined]
  const unique = after === undefined
    ? ""
    : `local counter = 0\nrequest = function() counter = counter + 1\n` +
      `return wrk.format(nil, nil, nil, ${
        JSON.stringify(before)
      } .. tostring(counter) .. "-" .. tostring(math.random(1e9)) .. ${JSON.stringify(after)}) end\n`
  await writeFile(
    script,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n${headers}wrk.body = ${
      JSON.stringify(options.body)
    }\n${unique}` +
      `local errors = 0\nresponse = function(status) if status ~= 200 then errors = errors + 1 end end\n` +
      `done = function() io.write(string.format("non-200: %d\\n", errors)) end\n`
  )
  const { stdout } = await run("wrk", [
    "-t1",
    `-c${options.connections}`,
    `-d${options.durationSecs}s`,
    "--latency",
    "-s",
    script,
    options.url
  ])
  const percentile = (p: string) => {
    const match = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)`, "m").exec(stdout)
    return match ? toMs(match[1]!, match[2]!) : Number.NaN
  }
  const socketErrors = /Socket errors: (.*)/.exec(stdout)?.[1] ?? ""
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]),
    p50Ms: percentile("50"),
    p99Ms: percentile("99"),
    errors: Number(/non-200: (\d+)/.exec(stdout)?.[1] ?? 0) +
      [...socketErrors.matchAll(/\d+/g)].reduce((sum, [n]) => sum + Number(n), 0)
  }
}

const withAutocannon = async (options: LoadOptions): Promise<LoadResult> => {
  const result = await autocannon({
    url: options.url,
    method: "POST",
    headers: { "content-type": "application/json", ...options.headers },
    ...(options.uniqueMarker
      ? {
        requests: [{
          setupRequest: (request: autocannon.Request) => ({
            ...request,
            body: options.body.replace(options.uniqueMarker!, `${Date.now()}-${Math.random()}`)
          })
        }]
      }
      : { body: options.body }),
    connections: options.connections,
    duration: options.durationSecs
  })
  return {
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.non2xx
  }
}

export const load = (tool: LoadTool, options: LoadOptions): Promise<LoadResult> =>
  tool === "wrk" ? withWrk(options) : withAutocannon(options)

/** Sequential requests, each one new: the latency a single caller sees. */
export const sequentialLatency = async (
  url: string,
  count: number,
  bodyFor: (index: number) => string,
  headers: Record<string, string> = {}
): Promise<{ p50Ms: number; p99Ms: number }> => {
  const samples: Array<number> = []
  for (let index = 0; index < count; index++) {
    const started = performance.now()
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: bodyFor(index)
    })
    await response.arrayBuffer()
    if (response.status !== 200) throw new Error(`${url} answered ${response.status}`)
    samples.push(performance.now() - started)
  }
  samples.sort((a, b) => a - b)
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
  return { p50Ms: at(0.5), p99Ms: at(0.99) }
}
