// The gateway's resident memory as a user runs it (bench/memory.ts prints it): idle after start-up, and with 200
// Claude-Code-shaped 164 KB streams open at once. `npm start` (node bin/isartor up) and the single binary
// (dist/isartor-<os>-<arch>, when built: npm run build:binary -- --target linux-x64), each with its defaults, against
// the agent bench's loopback upstream (bench/agentUpstream.ts), which holds every stream open after its first event.
// A fresh gateway per round, the two alternated; medians of the rounds. Linux only (/proc).
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { arch, platform } from "node:os"
import { join } from "node:path"
import { projectRoot, type StartedProcess, startProcess } from "../test/support/processes.ts"
import { peakRssWithStreams, startAgentUpstream } from "./agent.ts"

const KEY = "sk-bench-0000000000000000"
/** How long a started gateway is left alone before its idle memory is read. */
const SETTLE_MS = 10_000

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })

/** Resident memory of a process and every process under it, in MB. */
export const treeRssMb = (pid: number): number => {
  const rssKb = (id: number) => {
    try {
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${id}/status`, "utf8"))?.[1] ?? 0)
    } catch {
      return 0
    }
  }
  const children = (id: number): Array<number> => {
    try {
      return readdirSync(`/proc/${id}/task`).flatMap((task) =>
        readFileSync(`/proc/${id}/task/${task}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number)
      )
    } catch {
      return []
    }
  }
  let kb = 0
  const pending = [pid]
  while (pending.length > 0) {
    const id = pending.pop()!
    kb += rssKb(id)
    pending.push(...children(id))
  }
  return kb / 1024
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const binaryPath = () =>
  join(projectRoot, "dist", `isartor-${platform()}-${arch() === "arm64" ? "arm64" : "x64"}`)

type Target = "npm start" | "binary"

const startGateway = async (target: Target, upstreamUrl: string): Promise<StartedProcess> => {
  const command = target === "binary" ? [binaryPath(), "up"] : [process.execPath, "bin/isartor", "up"]
  return startProcess(command, {
    ISARTOR__HOST_PORT: `127.0.0.1:${await freePort()}`,
    ISARTOR__LLM_PROVIDER: "anthropic",
    ISARTOR__EXTERNAL_LLM_URL: upstreamUrl,
    ISARTOR__EXTERNAL_LLM_API_KEY: KEY,
    ISARTOR__L3_MAX_RETRIES: "0"
  })
}

interface Round {
  readonly idleMb: number
  readonly peakMb: number
}

/** One fresh gateway: its idle resident set (median of five reads a second apart), then the peak with the streams open. */
const measureRound = async (target: Target, upstreamUrl: string, streams: number): Promise<Round> => {
  const gateway = await startGateway(target, upstreamUrl)
  try {
    const pid = gateway.child.pid!
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    const reads: Array<number> = []
    for (let i = 0; i < 5; i++) {
      reads.push(treeRssMb(pid))
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    const idleMb = median(reads)
    const { peakMb, opened } = await peakRssWithStreams({
      url: `${gateway.url}/v1/messages`,
      upstreamUrl,
      pid,
      count: streams,
      sizeKb: 164
    })
    if (opened !== streams) throw new Error(`${target}: ${opened} of ${streams} streams opened`)
    return { idleMb, peakMb: Math.max(peakMb, treeRssMb(pid)) }
  } finally {
    gateway.stop()
  }
}

/** Rows of `npm run bench:memory`'s process table. */
export const measureProcesses = async (options: { readonly rounds: number; readonly streams: number }) => {
  const targets: Array<Target> = existsSync(binaryPath()) ? ["npm start", "binary"] : ["npm start"]
  if (targets.length === 1) {
    console.log(`no ${binaryPath()}: the binary's row needs npm run build:binary -- --target linux-x64`)
  }
  const upstream = await startAgentUpstream()
  const rounds = new Map<Target, Array<Round>>(targets.map((target) => [target, []]))
  try {
    for (let round = 0; round < options.rounds; round++) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        process.stderr.write(`\rprocesses: round ${round + 1}/${options.rounds}, ${target}   `)
        rounds.get(target)!.push(await measureRound(target, upstream.url, options.streams))
      }
    }
    process.stderr.write("\n")
  } finally {
    upstream.stop()
  }
  return targets.map((target) => {
    const measured = rounds.get(target)!
    const above = measured.map((round) => round.peakMb - round.idleMb)
    return {
      gateway: target,
      "idle RSS MB": Math.round(median(measured.map((round) => round.idleMb))),
      [`RSS above idle, ${options.streams} streams open, MB`]: Math.round(median(above)),
      "rounds (idle / above)": measured.map((round, i) => `${Math.round(round.idleMb)}/${Math.round(above[i]!)}`)
        .join(" ")
    }
  })
}
