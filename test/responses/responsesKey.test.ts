import { Effect } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { agentRequest } from "../../bench/agentBodies.ts"
import { CacheKey } from "../../core/cache/CacheKey.ts"
import { responsesKey } from "../../core/pipeline/responsesKey.ts"

const keys = await Effect.runPromise(CacheKey.pipe(Effect.provide(CacheKey.layer)))

/** The key of a Responses body as the route passes it on: from its bytes as received, or from the parsed body. */
const keyOf = (text: string, asBytes: boolean) => {
  const body = JSON.parse(text) as Record<string, unknown>
  const received = asBytes ? { text, bytes: new TextEncoder().encode(text) } : undefined
  return responsesKey(keys, "tenant|", { text, body, headers: {}, received })
}

const PATHS = [["parsed", false], ["bytes", true]] as const

/** A conversation continued from the items the upstream holds, with the same last message. */
const continuing = (items: ReadonlyArray<unknown>) =>
  JSON.stringify({
    model: "gpt-5",
    store: true,
    input: [...items, { type: "message", id: "msg_new", role: "user", content: "And now?" }]
  })

describe("the exact key of a Responses request passed through", () => {
  for (const [path, asBytes] of PATHS) {
    it(`tells apart the items it refers to by id (${path})`, () => {
      const pairs: Record<string, [unknown, unknown]> = {
        "item references": [{ type: "item_reference", id: "msg_thread_a" }, {
          type: "item_reference",
          id: "msg_thread_b"
        }],
        "item references without a type": [{ id: "msg_thread_a" }, { id: "msg_thread_b" }],
        "stored reasoning": [{ type: "reasoning", id: "rs_a", summary: [] }, {
          type: "reasoning",
          id: "rs_b",
          summary: []
        }],
        "hosted tool calls": [{ type: "web_search_call", id: "ws_a", status: "completed" }, {
          type: "web_search_call",
          id: "ws_b",
          status: "completed"
        }]
      }
      for (const [what, [one, other]] of Object.entries(pairs)) {
        assert.notEqual(keyOf(continuing([one]), asBytes).key, keyOf(continuing([other]), asBytes).key, what)
      }
    })

    it(`is the same whatever ids the items that carry their content have (${path})`, () => {
      const items = (run: string) => [
        { type: "message", id: `msg_${run}1`, role: "user", content: [{ type: "input_text", text: "Fix it" }] },
        { type: "reasoning", id: `rs_${run}`, summary: [], encrypted_content: "gAAAA-opaque" },
        { type: "function_call", id: `fc_${run}`, call_id: "call_1", name: "sh", arguments: "{}" },
        { type: "function_call_output", id: `fco_${run}`, call_id: "call_1", output: "ok" },
        { id: `msg_${run}2`, role: "assistant", content: "Done." }
      ]
      const first = keyOf(continuing(items("a")), asBytes)
      assert.deepEqual(keyOf(continuing(items("b")), asBytes), first)
      const changed = items("b").map((item, index) => index === 3 ? { ...item, output: "failed" } : item)
      assert.notEqual(keyOf(continuing(changed), asBytes).key, first.key)
    })
  }
})

/** The same turn as another run of Codex sends it: new ids for its input items, another session. */
const anotherRun = (body: string) => {
  const edited = body.replace(/"id":"msg_([0-9a-f-]+)"/g, (_, id: string) => `"id":"msg_${[...id].reverse().join("")}"`)
    .replace(/"prompt_cache_key":"[^"]*"/, `"prompt_cache_key":"another-session"`)
  assert.notEqual(edited, body)
  return edited
}

describe("the exact key of a Codex turn, made of its bytes", () => {
  const body = agentRequest("codex", 164, "turn 1").body

  it("is made of the bytes as received, not of the parsed body", () => {
    assert.notEqual(keyOf(body, true).key, keyOf(body, false).key)
  })

  it("is the same in another run, and differs when a message of the history does", () => {
    const first = keyOf(body, true)
    assert.deepEqual(keyOf(anotherRun(body), true), first)
    const history = body.replace("<environment_context>", "<environment_context> ")
    assert.notEqual(history, body)
    assert.notEqual(keyOf(history, true).key, first.key)
    assert.notEqual(keyOf(agentRequest("codex", 164, "turn 2").body, true).key, first.key)
  })
})
