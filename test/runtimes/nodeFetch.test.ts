import { serve } from "@hono/node-server"
import assert from "node:assert/strict"
import type { AddressInfo } from "node:net"
import { after, before, describe, it } from "node:test"
import { startGateway } from "../../core/Gateway.ts"
import { nodeUpstreamFetch } from "../../runtimes/nodeFetch.ts"
import { type Behaviour, type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { upstreamEnv } from "../support/gateway.ts"

// The Node runtime calls upstream through undici's pooled `request` instead of the global `fetch`: what a client
// gets must not depend on which one carried the call — answers, streams, upstream errors, timeouts, dead hosts.

const startWith = async (env: Record<string, string>, withUndici: boolean) => {
  const gateway = await startGateway(
    { env: { ISARTOR__HOST_PORT: "127.0.0.1:0", ...env }, readTextFile: async () => undefined },
    {
      log: { info: () => undefined, warn: () => undefined },
      ...(withUndici ? { upstreamFetch: nodeUpstreamFetch } : {})
    }
  )
  const server = serve({ fetch: gateway.fetch, hostname: "127.0.0.1", port: 0 })
  await new Promise<void>((resolve) => server.once("listening", () => resolve()))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if ("closeAllConnections" in server) server.closeAllConnections()
        server.close(() => void gateway.dispose().then(() => resolve()))
      })
  }
}

/** What a client sees of an answer, without what differs per call (ids, times). */
const seen = async (response: Response) => {
  const text = await response.text()
  return {
    status: response.status,
    type: response.headers.get("content-type"),
    layer: response.headers.get("x-isartor-layer"),
    retryAfter: response.headers.get("retry-after"),
    body: text.replace(/"(id|created)":\s*("[^"]*"|\d+)/g, "\"$1\":_")
  }
}

const ask = (url: string, content: string, stream = false) =>
  fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", "cache-control": "no-cache, no-store" },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }], stream })
  })

describe("Node's upstream calls through undici", () => {
  let fake: FakeOpenAI
  before(async () => {
    fake = await startFakeOpenAI()
  })
  after(() => fake.close())

  const cases: Array<{ name: string; behaviour: Behaviour; stream?: boolean }> = [
    { name: "a whole answer", behaviour: { kind: "ok" } },
    { name: "a streamed answer", behaviour: { kind: "ok" }, stream: true },
    { name: "a stream that breaks off", behaviour: { kind: "break-stream" }, stream: true },
    {
      name: "a 429 with Retry-After",
      behaviour: { kind: "error", status: 429, message: "slow down", headers: { "retry-after": "3" } }
    },
    { name: "a 401", behaviour: { kind: "error", status: 401, message: "bad key" } },
    { name: "a 500", behaviour: { kind: "error", status: 500, message: "upstream fell over" } },
    // undici's answer is read once and handed over as text: a body that is not JSON must still fail as fetch's does.
    { name: "a 200 that is not JSON", behaviour: { kind: "not-json" } }
  ]
  for (const { behaviour, name, stream } of cases) {
    it(`${name}: the client gets the same as through the global fetch`, async () => {
      const env = upstreamEnv(fake.url, { ISARTOR__L3_MAX_RETRIES: "0" })
      const answers = []
      for (const withUndici of [false, true]) {
        const gateway = await startWith(env, withUndici)
        try {
          fake.queue.push(behaviour)
          answers.push(await seen(await ask(gateway.url, `${name}?`, stream)))
        } finally {
          await gateway.close()
        }
      }
      assert.deepEqual(answers[1], answers[0])
      assert.equal(answers[1]!.layer, "l3")
    })
  }

  it("a hung upstream times out, and a dead one is unreachable, as through the global fetch", async () => {
    const dead = await startFakeOpenAI()
    const deadUrl = dead.url
    await dead.close()
    for (
      const [env, behaviour] of [
        [upstreamEnv(fake.url, { ISARTOR__L3_MAX_RETRIES: "0", ISARTOR__L3_TIMEOUT_SECS: "1" }), { kind: "hang" }],
        [upstreamEnv(deadUrl, { ISARTOR__L3_MAX_RETRIES: "0" }), undefined]
      ] as const
    ) {
      const answers = []
      for (const withUndici of [false, true]) {
        const gateway = await startWith(env, withUndici)
        try {
          if (behaviour) fake.queue.push(behaviour)
          answers.push(await seen(await ask(gateway.url, "anyone there?")))
        } finally {
          await gateway.close()
        }
      }
      assert.deepEqual(answers[1], answers[0])
      assert.ok(answers[1]!.status >= 500, `status ${answers[1]!.status}`)
    }
  })
})
