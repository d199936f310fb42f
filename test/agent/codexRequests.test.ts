import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { agentRequest } from "../../bench/agentBodies.ts"
import { fakeUpstreamGateway } from "../support/gateway.ts"

// A Codex turn of 164 KB through `/v1/responses` to an upstream that speaks it: passed through as the client sent it,
// and the same turn again — in another run, whose input item ids and session fields are new — is the exact cache's.

const file = fakeUpstreamGateway({ env: { ISARTOR__LLM_PROVIDER: "openai" } }, { kind: "providers" })

const send = async (body: string) => {
  const request = agentRequest("codex", 164, "")
  const response = await fetch(`${file.gateway.url}${request.path}`, {
    method: "POST",
    headers: { ...request.headers, "content-type": "application/json", authorization: "Bearer caller-key" },
    body
  })
  const text = await response.text()
  assert.equal(response.status, 200, text)
  return { layer: response.headers.get("x-isartor-layer"), text }
}

/** The same turn as another run sends it: new ids for its input items, another session. */
const anotherRun = (body: string) => {
  const edited = body.replace(/"id":"msg_([0-9a-f-]+)"/g, (_, id: string) => `"id":"msg_${[...id].reverse().join("")}"`)
    .replace(/"prompt_cache_key":"[^"]*"/, `"prompt_cache_key":"another-session"`)
  assert.notEqual(edited, body)
  return edited
}

describe("a Codex request", () => {
  it("goes upstream as sent, and is an exact hit when sent again, in another run too", async () => {
    const body = agentRequest("codex", 164, `turn ${Date.now()}`).body
    const first = await send(body)
    assert.equal(first.layer, "l3")
    assert.equal(file.upstream.calls.length, 1)
    assert.equal(file.upstream.calls[0]!.raw, body, "the upstream got the client's body")
    assert.equal((await send(body)).layer, "l1a")
    assert.equal((await send(anotherRun(body))).layer, "l1a")
    assert.equal(file.upstream.calls.length, 1, "neither was asked upstream")
    const next = await send(agentRequest("codex", 164, `turn ${Date.now()} b`).body)
    assert.equal(next.layer, "l3")
  })

  it("is keyed from the bytes it came as: the same turn spaced otherwise is asked upstream", async () => {
    // The hits above went through the bytes cut (of the input ids and the session fields), not the parsed body.
    const body = agentRequest("codex", 164, `spaced ${Date.now()}`).body
    assert.equal((await send(body)).layer, "l3")
    assert.equal((await send(anotherRun(body))).layer, "l1a")
    const calls = file.upstream.calls.length
    assert.equal((await send(JSON.stringify(JSON.parse(body), null, 1))).layer, "l3")
    assert.equal(file.upstream.calls.length, calls + 1)
  })

  it("continuing another stored thread with the same last message is asked upstream, not the first's answer", async () => {
    const body = JSON.parse(agentRequest("codex", 164, `thread ${Date.now()}`).body) as { input: Array<unknown> }
    const continuing = (thread: string) => {
      const input = [...body.input]
      input.splice(input.length - 1, 0, { type: "item_reference", id: `msg_${thread}` })
      return JSON.stringify({ ...body, input })
    }
    const first = await send(continuing("thread_a"))
    assert.equal(first.layer, "l3")
    assert.equal((await send(continuing("thread_a"))).layer, "l1a")
    const other = await send(continuing("thread_b"))
    assert.equal(other.layer, "l3", "the other thread's request was served the first thread's answer")
    assert.equal(file.upstream.calls.at(-1)!.raw, continuing("thread_b"))
  })
})
