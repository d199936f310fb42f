import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { fakeUpstreamGateway } from "../support/gateway.ts"

// An exact hit answered without a parse or an effect run, from a body seen before: it must be the same answer, to
// the same caller only, as the full path gives — and never one the cache no longer holds.

const file = fakeUpstreamGateway({ env: { ISARTOR__CACHE_MODE: "exact" } })

const ask = async (body: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${file.gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body
  })
  return {
    status: response.status,
    layer: response.headers.get("x-isartor-layer"),
    key: response.headers.get("x-isartor-cache-key"),
    age: response.headers.get("age"),
    type: response.headers.get("content-type"),
    text: await response.text()
  }
}

const chat = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content }], ...extra })

describe("exact hits of a body seen before", () => {
  it("the same bytes again are an L1a hit with the answer, entry and headers of the first", async () => {
    const body = chat("What is the capital of France?")
    const first = await ask(body)
    const again = await ask(body)
    const third = await ask(body)
    assert.equal(first.layer, "l3")
    for (const hit of [again, third]) {
      assert.deepEqual(
        { status: hit.status, layer: hit.layer, key: hit.key, age: hit.age, type: hit.type, text: hit.text },
        { status: 200, layer: "l1a", key: first.key, age: "0", type: "application/json", text: first.text }
      )
    }
    assert.equal(file.upstream.calls.length, 1)
  })

  it("the same JSON written differently is the same entry (the canonical key decides)", async () => {
    const first = await ask(chat("Name a prime number."))
    const spaced = await ask(JSON.stringify(JSON.parse(chat("Name a prime number.")), null, 2))
    assert.equal(spaced.layer, "l1a")
    assert.equal(spaced.key, first.key)
  })

  it("the same bytes from another caller or session are not that caller's hit", async () => {
    const body = chat("Whose answer is this?")
    assert.equal((await ask(body, { authorization: "Bearer caller-one" })).layer, "l3")
    assert.equal((await ask(body, { authorization: "Bearer caller-one" })).layer, "l1a")
    assert.equal((await ask(body, { authorization: "Bearer caller-two" })).layer, "l3")
    assert.equal((await ask(body, { authorization: "Bearer caller-one", "x-isartor-session-id": "s2" })).layer, "l3")
  })

  it("a removed entry is not answered again, and no-cache still asks upstream", async () => {
    const body = chat("Forget me.")
    const first = await ask(body)
    assert.equal((await ask(body)).layer, "l1a")
    const removed = await fetch(`${file.gateway.url}/v1/cache/${first.key}`, { method: "DELETE" })
    assert.equal(removed.status, 200)
    await removed.arrayBuffer()
    assert.equal((await ask(body)).layer, "l3")
    assert.equal((await ask(body, { "cache-control": "no-cache" })).layer, "l3")
    assert.equal((await ask(body)).layer, "l1a")
  })

  it("a streamed request of a body seen plain is answered from the same entry as a stream", async () => {
    await ask(chat("Stream me later."))
    const streamed = await ask(chat("Stream me later.", { stream: true }))
    assert.equal(streamed.layer, "l1a")
    assert.match(streamed.type ?? "", /^text\/event-stream/)
    assert.match(streamed.text, /data: \[DONE\]/)
    const again = await ask(chat("Stream me later.", { stream: true }))
    assert.equal(again.layer, "l1a")
    assert.equal(again.text, streamed.text)
  })
})

describe("tokens of answers", () => {
  const tokens = async (direction: "saved" | "spent") => {
    const text = await (await fetch(`${file.gateway.url}/metrics`)).text()
    const found = new RegExp(`^isartor_tokens_total\\{[^}]*direction="${direction}"[^}]*\\} (\\S+)$`, "m").exec(text)
    return Number(found?.[1] ?? Number.NaN)
  }

  it("an upstream answer's tokens are spent, never saved; the same answer from L1a saves them", async () => {
    const savedBefore = await tokens("saved")
    const spentBefore = await tokens("spent")
    const body = chat("Count my tokens.")
    assert.equal((await ask(body)).layer, "l3")
    const spent = (await tokens("spent")) - spentBefore
    assert.ok(spent > 0, `spent ${spent}`)
    assert.equal(await tokens("saved"), savedBefore)
    assert.equal((await ask(body)).layer, "l1a")
    assert.equal((await tokens("saved")) - savedBefore, spent)
  })
})
