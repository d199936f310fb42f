import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { after, before, describe, it } from "node:test"
import { promisify } from "node:util"
import { startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"
import { runtimeCommand, type RuntimeName, startProcess } from "../support/processes.ts"
import { type RedisServer, startRedis } from "../support/redis.ts"

const run = promisify(execFile)
const PASSWORD = "the-right-password-7f3a"
const WRONG = "a-wrong-password-91c2"

let redis: RedisServer
let upstream: Awaited<ReturnType<typeof startFakeOpenAI>>
before(async () => {
  upstream = await startFakeOpenAI()
  redis = await startRedis()
  await run("redis-cli", ["-h", "127.0.0.1", "-p", String(redis.port), "CONFIG", "SET", "requirepass", PASSWORD])
})
after(async () => {
  await redis.stop()
  await upstream.close()
})

/** Starts the gateway on `runtime` against the password-protected Redis, asks once, and returns what it printed. */
const gatewayOutput = async (runtime: RuntimeName, redisUrl: string) => {
  const gateway = await startProcess(
    runtimeCommand(runtime, `runtimes/${runtime}.ts`),
    upstreamEnv(upstream.url, {
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__CACHE_BACKEND: "redis",
      ISARTOR__REDIS_URL: redisUrl
    })
  )
  try {
    // The caches fall through: the answer still comes, from the upstream.
    const response = await fetch(`${gateway.url}/api/chat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ prompt: "Is Redis letting us in?" })
    })
    assert.equal(response.status, 200)
    assert.equal(response.headers.get("x-isartor-layer"), "l3")
    return gateway.output()
  } finally {
    gateway.stop()
  }
}

describe("a Redis that refuses the gateway's credentials", () => {
  for (const runtime of ["node", "bun", "deno"] as const) {
    it(`${runtime}: a wrong password is logged as refused (WRONGPASS), not unreachable, and never printed`, async () => {
      const output = await gatewayOutput(runtime, `redis://:${WRONG}@127.0.0.1:${redis.port}`)
      assert.match(
        output,
        new RegExp(
          `Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} refused authentication \\(WRONGPASS: the user name or password is wrong\\); set the right password in ISARTOR__REDIS_URL`
        ),
        output
      )
      assert.doesNotMatch(output, /unreachable/)
      assert.ok(!output.includes(WRONG), output)
    })
  }

  it("no password where one is required is logged as refused (NOAUTH)", async () => {
    const output = await gatewayOutput("node", `redis://127.0.0.1:${redis.port}`)
    assert.match(
      output,
      /refused authentication \(NOAUTH: Redis requires a password, and none was given\)/,
      output
    )
    assert.doesNotMatch(output, /unreachable/)
  })

  it("the right password: no warning about Redis at all", async () => {
    const output = await gatewayOutput("node", `redis://:${PASSWORD}@127.0.0.1:${redis.port}`)
    assert.doesNotMatch(output, /Redis at /, output)
  })
})
