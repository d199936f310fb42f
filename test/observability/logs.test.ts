import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type GatewayOptions, startGateway } from "../../core/Gateway.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { TEST_PROVIDER_KEY, upstreamEnv } from "../support/gateway.ts"
import { freePort } from "./prometheus.ts"

let upstream: FakeOpenAI
before(async () => {
  upstream = await startFakeOpenAI()
})
after(() => upstream.close())

/** A gateway whose every log line is kept, info and warnings alike; requests go straight to its fetch handler. */
const withLogged = async (
  env: Record<string, string>,
  run: (ask: (prompt: string) => Promise<Response>, lines: Array<string>) => Promise<void>,
  options: Pick<GatewayOptions, "embedded"> = {}
) => {
  const lines: Array<string> = []
  const gateway = await startGateway({
    env: { ISARTOR__HOST_PORT: "127.0.0.1:0", ...env },
    readTextFile: async () => undefined
  }, {
    log: { info: (line) => lines.push(line), warn: (line) => lines.push(line) },
    // Never connected: the Redis test gives a URL the gateway refuses before connecting.
    redis: () => Promise.reject(new Error("no Redis in this test")),
    ...options
  })
  const ask = (prompt: string) =>
    Promise.resolve(
      gateway.fetch(
        new Request("http://gateway/api/chat", {
          method: "POST",
          headers: { authorization: "Bearer caller-secret-token-0000" },
          body: JSON.stringify({ prompt })
        })
      )
    )
  try {
    await run(ask, lines)
  } finally {
    await gateway.dispose()
  }
}

describe("what the log says, as the operators' guide quotes it", () => {
  it("an unreachable SLM sidecar: one warning per 30 s, and every request still answered by L3", async () => {
    const closedPort = await freePort()
    await withLogged(
      upstreamEnv(upstream.url, {
        ISARTOR__ENABLE_SLM_ROUTER: "true",
        ISARTOR__LAYER2__SIDECAR_URL: `http://127.0.0.1:${closedPort}`
      }),
      async (ask, lines) => {
        const layers = []
        for (const prompt of ["Write a tsconfig.json", "Write a .gitignore", "Write a README"]) {
          const response = await ask(prompt)
          layers.push(`${response.status} ${response.headers.get("x-isartor-layer")}`)
        }
        assert.deepEqual(layers, ["200 l3", "200 l3", "200 l3"])
        const reports = lines.filter((line) =>
          line.includes("Layer 2: Failed to connect to SLM sidecar — falling through")
        )
        assert.equal(reports.length, 1, lines.join("\n"))
        assert.match(reports[0]!, /^isartor: warning: /)
      }
    )
  })

  it("an embedded engine that fails: the guide's line, en dash and all, and the answer from L3", async () => {
    let calls = 0
    await withLogged(
      upstreamEnv(upstream.url, {
        ISARTOR__ENABLE_SLM_ROUTER: "true",
        ISARTOR__LAYER2__INFERENCE_ENGINE: "embedded",
        ISARTOR__EMBEDDED__MODEL_PATH: "/models/missing.gguf",
        ISARTOR__CACHE_MODE: "exact"
      }),
      async (ask, lines) => {
        const response = await ask("Write a tsconfig.json")
        assert.equal(`${response.status} ${response.headers.get("x-isartor-layer")}`, "200 l3")
        assert.ok(calls > 0, "the engine was asked")
        const reports = lines.filter((line) =>
          line.includes("Layer 2: Embedded classification failed \u2013 falling through")
        )
        assert.equal(reports.length, 1, lines.join("\n"))
        assert.match(reports[0]!, /^isartor: warning: /)
      },
      {
        embedded: async () => ({
          name: "failing-engine",
          chat: async () => {
            calls++
            throw new Error("GGUF model file not found")
          }
        })
      }
    )
  })

  it("Redis that cannot be used: the Layer 1a warning, and the answer from L3", async () => {
    await withLogged(
      upstreamEnv(upstream.url, {
        ISARTOR__CACHE_BACKEND: "redis",
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__REDIS_URL: "not-a-redis-url"
      }),
      async (ask, lines) => {
        assert.equal((await ask("Is Redis there?")).status, 200)
        assert.ok(
          lines.some((line) => line.includes("Layer 1a: Redis connection error — falling through")),
          lines.join("\n")
        )
      }
    )
  })

  it("JSON lines with ISARTOR__LOG_FORMAT=json: start-up lines and one line per request, no key in any", async () => {
    await withLogged(
      upstreamEnv(upstream.url, { ISARTOR__LOG_FORMAT: "json", ISARTOR__CACHE_MODE: "exact" }),
      async (ask, lines) => {
        await ask("Logged as JSON")
        await ask("Logged as JSON")
        const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
        assert.ok(parsed.every((line) => typeof line.time === "string" && typeof line.level === "string"))
        assert.ok(parsed.some((line) => String(line.msg).startsWith("OpenTelemetry export off")))
        const requests = parsed.filter((line) => line.msg === "request")
        assert.deepEqual(requests.map((line) => [line.route, line.status, line.final_layer]), [
          ["/api/chat", 200, "L3_Cloud"],
          ["/api/chat", 200, "L1a_ExactCache"]
        ])
        const text = lines.join("\n")
        for (const secret of [TEST_PROVIDER_KEY, "caller-secret-token-0000"]) assert.ok(!text.includes(secret))
      }
    )
  })

  it("ISARTOR__LOG_LEVEL=warn keeps only warnings; text request lines need debug", async () => {
    await withLogged(
      upstreamEnv(upstream.url, { ISARTOR__LOG_LEVEL: "warn", ISARTOR__CACHE_MODE: "exact" }),
      async (ask, lines) => {
        await ask("Quiet, please")
        assert.deepEqual(lines.filter((line) => !line.startsWith("isartor: warning:")), [])
      }
    )
    await withLogged(
      upstreamEnv(upstream.url, { ISARTOR__LOG_LEVEL: "debug", ISARTOR__CACHE_MODE: "exact" }),
      async (ask, lines) => {
        await ask("Loud, please")
        assert.ok(
          lines.some((line) => /^isartor: POST \/api\/chat 200 L3_Cloud [\d.]+ ms openai$/.test(line)),
          lines.join("\n")
        )
      }
    )
  })

  it("\"Console shows OTel disabled\": the single-underscore variable is named, with the right one", async () => {
    await withLogged(
      upstreamEnv(upstream.url, { ISARTOR_ENABLE_MONITORING: "true", ISARTOR__CACHE_MODE: "exact" }),
      async (_ask, lines) => {
        assert.ok(
          lines.some((line) =>
            line.includes("ISARTOR_ENABLE_MONITORING is ignored") && line.includes("ISARTOR__ENABLE_MONITORING")
          ),
          lines.join("\n")
        )
        assert.ok(
          lines.some((line) => line.includes("OpenTelemetry export off (ISARTOR__ENABLE_MONITORING=true turns it on)"))
        )
      }
    )
  })
})
