// On each runtime's own server, both caches on: a question asked under another `anthropic-beta` or
// `anthropic-version` is asked upstream, by L1a, the hot lane and L1b alike; a `Cache-Control` directive the
// operator did not allow is refused with a 403 in the client's format, before anything is sent upstream.
import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type FakeProviders, startFakeProviders } from "../support/fakeProviders.ts"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../support/processes.ts"

const runtimes: ReadonlyArray<RuntimeName> = ["node", "bun", "deno"]
const VERSION = "2023-06-01"
const OTHER_VERSION = "2026-10-21"
const BETA = "context-management-2025-06-27"

let fake: FakeProviders
before(async () => {
  fake = await startFakeProviders()
})
after(() => fake.close())

for (const runtime of runtimes) {
  describe(`cache isolation and refusals: ${runtime}`, () => {
    let gateway: StartedProcess
    before(async () => {
      gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__LLM_PROVIDER: "anthropic",
        ISARTOR__EXTERNAL_LLM_URL: `${fake.url}/v1`,
        ISARTOR__EXTERNAL_LLM_API_KEY: fake.apiKey,
        ISARTOR__CACHE_MODE: "both",
        // The test is about cache isolation; the false-hit budget is tested in test/cache/semantic/ErrorBudget*.test.ts.
        ISARTOR__L1B_ERROR_BUDGET: "1"
      })
    })
    after(() => gateway.stop())

    const send = (question: string, headers: Record<string, string>) =>
      fetch(`${gateway.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": "caller-key", ...headers },
        body: JSON.stringify({
          model: "claude-sonnet-4-5",
          max_tokens: 256,
          messages: [{ role: "user", content: question }]
        })
      })
    const layerOf = async (question: string, headers: Record<string, string>) => {
      const response = await send(question, headers)
      assert.equal(response.status, 200, await response.clone().text())
      await response.arrayBuffer()
      return response.headers.get("x-isartor-layer")
    }

    it("asks upstream again for another beta or version, in L1a and in L1b", async () => {
      const asked = { "anthropic-version": VERSION, "anthropic-beta": BETA }
      const question = `How do I reset my ${runtime} router?`
      const paraphrase = `How can I reset my ${runtime} router?`
      const callsBefore = fake.calls.length
      assert.equal(await layerOf(question, asked), "l3")
      assert.equal(await layerOf(question, asked), "l1a", "same bytes, same headers")
      assert.equal(await layerOf(question, { ...asked, "anthropic-version": OTHER_VERSION }), "l3", "another version")
      assert.equal(await layerOf(question, { "anthropic-version": VERSION }), "l3", "no beta")
      assert.equal(await layerOf(paraphrase, asked), "l1b", "a paraphrase, same headers")
      assert.equal(
        await layerOf(paraphrase, { ...asked, "anthropic-beta": "prompt-caching-2024-07-31" }),
        "l3",
        "a paraphrase under another beta"
      )
      const upstream = fake.calls.slice(callsBefore).map((call) => [
        call.headers["anthropic-beta"],
        call.headers["anthropic-version"]
      ])
      assert.deepEqual(upstream, [
        [BETA, VERSION],
        [BETA, OTHER_VERSION],
        [undefined, VERSION],
        ["prompt-caching-2024-07-31", VERSION]
      ])
    })

    it("refuses Cache-Control: immutable with a 403 in Anthropic's format, sending nothing upstream", async () => {
      const callsBefore = fake.calls.length
      const response = await send(`Is the ${runtime} answer immutable?`, {
        "anthropic-version": VERSION,
        "cache-control": "immutable"
      })
      assert.equal(response.status, 403)
      const error = (await response.json()) as { type: string; error: { type: string; message: string } }
      assert.deepEqual([error.type, error.error.type], ["error", "permission_error"])
      assert.match(error.error.message, /Cache-Control: immutable is not allowed/)
      assert.equal(fake.calls.length, callsBefore)
    })
  })
}
