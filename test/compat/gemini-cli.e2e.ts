import assert from "node:assert/strict"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { after, before, describe, it } from "node:test"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { type RunningGateway, startTestGateway, TEST_PROVIDER_KEY } from "../support/gateway.ts"
import { installed } from "../support/installed.ts"
import { cliInstalled, GEMINI_KEY, runGemini } from "./clis.ts"

/**
 * Gemini CLI (`gemini -p`, from `.ci/clis`) with `GOOGLE_GEMINI_BASE_URL` at the gateway, against a Gemini-format and
 * an OpenAI-format upstream. Its proxy is a loopback listener that records whatever reaches it: anything the CLI
 * sends anywhere but the gateway would.
 */
type Upstream = "gemini" | "openai"

let providers: FakeProviders
const gateways = new Map<Upstream, RunningGateway>()
let proxy: Server
const elsewhere: Array<string> = []
before(async () => {
  providers = await startFakeProviders(TEST_PROVIDER_KEY)
  const common = { ISARTOR__CACHE_MODE: "exact", ISARTOR__L3_RETRY_BASE_MS: "1" }
  gateways.set(
    "gemini",
    await startTestGateway({
      ISARTOR__LLM_PROVIDER: "gemini",
      ISARTOR__EXTERNAL_LLM_URL: providers.url,
      ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
      ...common
    })
  )
  gateways.set(
    "openai",
    await startTestGateway({
      ISARTOR__EXTERNAL_LLM_URL: `${providers.url}/v1`,
      ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
      ...common
    })
  )
  proxy = createServer((req, res) => {
    elsewhere.push(`${req.method} ${req.url}`)
    res.writeHead(502).end()
  })
  proxy.on("connect", (req, socket) => {
    elsewhere.push(`CONNECT ${req.url}`)
    socket.destroy()
  })
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve))
})
after(async () => {
  for (const gateway of gateways.values()) await gateway.close()
  await providers.close()
  proxy.closeAllConnections()
  await new Promise((resolve) => proxy.close(resolve))
})

const proxyUrl = () => `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
const chatCalls = () => providers.calls.filter((call) => !call.path.includes("countTokens"))

describe("gemini -p through the gateway", () => {
  for (const upstream of ["gemini", "openai"] as const) {
    // Offered Gemini CLI's tools, the fake model calls the first with arguments the CLI rejects; the rejection goes
    // back as the function's response, and the model's answer to it is what gemini prints.
    it(`runs the tool the model asked for and prints the answer, then again from the cache, with no call but to the gateway (${upstream}-format upstream)`, async (t) => {
      if (!installed(t, cliInstalled("gemini"), "the gemini CLI", ".ci/run installs it into .ci/clis")) return
      const before = chatCalls().length
      // The same prompt twice in one project: the second run's requests are the first's, up to the tool's result.
      const prompt = `say hi (${upstream})`
      const [run, again] = await runGemini(gateways.get(upstream)!.url, [prompt, prompt], proxyUrl())
      assert.equal(run!.code, 0, run!.stderr)
      assert.match(run!.stdout, /^Tool said: /)
      assert.equal(again!.code, 0, again!.stderr)
      assert.equal(again!.stdout, run!.stdout)
      const calls = chatCalls().slice(before)
      // No request reached the upstream twice: the prompt's first turn went up once for both runs, the second run's
      // came from the cache. (The turn after the tool differs: the CLI names each call anew.)
      const sent = calls.map((call) => `${call.path}\n${call.raw}`)
      assert.equal(new Set(sent).size, sent.length)
      const firstTurns = calls.filter((call) => !/functionResponse|"role":"tool"/.test(call.raw))
      assert.equal(firstTurns.length, 1, sent.join("\n\n"))
      const paths = calls.map((call) => call.path)
      if (upstream === "gemini") {
        assert.ok(paths.some((path) => /:streamGenerateContent\?alt=sse$/.test(path)), paths.join("\n"))
        // The provider's key reached the provider; the CLI's key stayed at the gateway.
        assert.ok(calls.every((call) => call.headers["x-goog-api-key"] === TEST_PROVIDER_KEY))
        assert.ok(calls.every((call) => !call.raw.includes(GEMINI_KEY)))
      } else {
        assert.ok(paths.every((path) => path === "/v1/chat/completions"), paths.join("\n"))
      }
      // The function's response came back in a later turn.
      assert.ok(calls.some((call) => call.raw.includes("functionResponse") || call.raw.includes("\"role\":\"tool\"")))
      assert.deepEqual(elsewhere, [], "nothing went anywhere but the gateway")
    })
  }

  it("refuses a caller without the gateway key, and the CLI says so", async (t) => {
    if (!installed(t, cliInstalled("gemini"), "the gemini CLI", ".ci/run installs it into .ci/clis")) return
    const locked = await startTestGateway({
      ISARTOR__EXTERNAL_LLM_URL: `${providers.url}/v1`,
      ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
      ISARTOR__GATEWAY_API_KEY: "gemini-cli-gateway-key",
      ISARTOR__L3_RETRY_BASE_MS: "1"
    })
    try {
      const before = chatCalls().length
      const refused = (await runGemini({ url: locked.url, apiKey: "not-the-key" }, ["say hi"], proxyUrl()))[0]!
      assert.notEqual(refused.code, 0)
      assert.match(refused.stdout + refused.stderr, /invalid gateway API key/)
      assert.equal(chatCalls().length, before, "nothing reached the upstream")
      const allowed =
        (await runGemini({ url: locked.url, apiKey: "gemini-cli-gateway-key" }, ["say hi"], proxyUrl()))[0]!
      assert.equal(allowed.code, 0, allowed.stderr)
      assert.match(allowed.stdout, /^Tool said: /)
    } finally {
      await locked.close()
    }
  })
})
