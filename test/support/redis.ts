import { type ChildProcess, execFile, spawn } from "node:child_process"
import { once } from "node:events"
import { mkdtemp, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before } from "node:test"
import { promisify } from "node:util"
import { eventually } from "./eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "./fakeOpenAI.ts"

const run = promisify(execFile)

const listenOn = (port: number) =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(port, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

/** A free loopback port, for a server this test starts itself. */
export const freePort = () => listenOn(0)

const isFree = (port: number) => listenOn(port).then(() => true, () => false)

/** A redis-server child process (Debian's package) on a loopback port, without persistence. */
const spawnRedis = async (port: number, extra: Array<string> = []) => {
  const child = spawn("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    ...extra
  ], {
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  await eventually(() => output.includes("Ready to accept connections"), {
    what: `redis-server on port ${port} to accept connections`,
    intervalMs: 20,
    failFast: () => (child.exitCode === null ? undefined : `it exited with code ${child.exitCode}:\n${output}`)
  })
  return child
}

const running = (child: ChildProcess | undefined): child is ChildProcess =>
  !!child && child.exitCode === null && child.signalCode === null

const kill = async (child: ChildProcess | undefined) => {
  if (!running(child)) return
  const exited = once(child, "exit")
  child.kill("SIGKILL")
  await exited
}

export interface RedisServer {
  readonly url: string
  readonly port: number
  /** SIGKILL: the server vanishes mid-conversation, as in a crash. */
  stop(): Promise<void>
  start(): Promise<void>
}

/** A real redis-server on a free loopback port; stop/start to test outages. */
export const startRedis = async (): Promise<RedisServer> => {
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    if (running(child)) return
    child = await spawnRedis(port)
  }
  await start()
  return { url: `redis://127.0.0.1:${port}`, port, start, stop: () => kill(child) }
}

export interface RedisCluster {
  readonly ports: ReadonlyArray<number>
  /** The seed URL a gateway is given: one node; the client finds the rest. */
  readonly url: string
  /** Runs redis-cli against one node. */
  cli(port: number, ...args: Array<string>): Promise<string>
  stop(): Promise<void>
}

/**
 * A local Redis Cluster of `masters` masters and no replicas (`redis-server --cluster-enabled yes` × n, then
 * `redis-cli --cluster create`), ready when every node reports `cluster_state:ok`.
 */
export const startRedisCluster = async (masters = 3): Promise<RedisCluster> => {
  const dir = await mkdtemp(join(tmpdir(), "isartor-redis-cluster-"))
  // Each node also needs its cluster bus port (port + 10000) free.
  const ports: Array<number> = []
  for (let attempt = 0; ports.length < masters && attempt < 500; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 10000)
    if (!ports.includes(port) && await isFree(port) && await isFree(port + 10000)) ports.push(port)
  }
  const children: Array<ChildProcess> = []
  const stop = async () => {
    await Promise.all(children.map(kill))
    await rm(dir, { recursive: true, force: true })
  }
  const cli = async (port: number, ...args: Array<string>) =>
    (await run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args])).stdout
  try {
    for (const port of ports) {
      children.push(
        await spawnRedis(port, [
          "--cluster-enabled",
          "yes",
          "--cluster-config-file",
          join(dir, `nodes-${port}.conf`),
          "--dir",
          dir
        ])
      )
    }
    await run("redis-cli", [
      "--cluster",
      "create",
      ...ports.map((port) => `127.0.0.1:${port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes"
    ])
    for (const port of ports) {
      await eventually(async () => (await cli(port, "cluster", "info")).includes("cluster_state:ok"), {
        what: `the Redis Cluster node on ${port} (of ${ports.join(", ")}) to report cluster_state:ok`,
        timeoutMs: 20_000,
        intervalMs: 100
      })
    }
  } catch (error) {
    await stop()
    throw error
  }
  return { ports, url: `redis://127.0.0.1:${ports[0]}`, cli, stop }
}

/** For a test file: a loopback fake OpenAI upstream and a redis-server, started before its tests, stopped after. */
export const upstreamAndRedis = () => {
  const servers = {} as { upstream: FakeOpenAI; redis: RedisServer }
  before(async () => {
    servers.upstream = await startFakeOpenAI()
    servers.redis = await startRedis()
  })
  after(async () => {
    await servers.redis.stop()
    await servers.upstream.close()
  })
  return servers
}

/** For a test file: a redis-server and a three-master Redis Cluster, started before its tests, stopped after. */
export const redisAndCluster = () => {
  const servers = {} as { redis: RedisServer; cluster: RedisCluster }
  before(async () => {
    servers.redis = await startRedis()
    servers.cluster = await startRedisCluster(3)
  })
  after(async () => {
    await servers.redis.stop()
    await servers.cluster.stop()
  })
  return servers
}
