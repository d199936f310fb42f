import fc from "fast-check"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { withoutDelivery } from "../../core/cache/CacheKey.ts"
import { type CutRule, keptSpans } from "../../core/cache/keyedBytes.ts"

const DELIVERY = new Set(["stream", "stream_options", "metadata", "prompt_cache_key", "client_metadata"])
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** What `keptSpans` keeps of a JSON text, as text. */
const kept = (text: string, rule: CutRule = { names: DELIVERY }) => {
  const bytes = encoder.encode(text)
  const spans = keptSpans(bytes, rule)
  assert.ok(spans !== undefined, text)
  let out = ""
  for (let at = 0; at < spans.length; at += 2) out += decoder.decode(bytes.subarray(spans[at]!, spans[at + 1]!))
  return out
}

// Members of a body: any JSON, some of them named as the delivery fields, or as the fields a quoted one could be
// taken for.
const name = fc.oneof(
  fc.string(),
  fc.constantFrom("stream", "metadata", "stream_options", "prompt_cache_key", "client_metadata", "model", "streamx")
)
const body = fc.uniqueArray(fc.tuple(name, fc.jsonValue()), { selector: ([key]) => key, maxLength: 8 })
const spacing = fc.constantFrom(undefined, 1, 2, "\t")

describe("a body's bytes without its delivery fields", () => {
  it("are the body without them, whatever the order and spacing of its members", () => {
    fc.assert(
      fc.property(body, spacing, (members, space) => {
        const value = Object.fromEntries(members)
        const text = JSON.stringify(value, null, space)
        assert.deepEqual(JSON.parse(kept(text)), withoutDelivery(JSON.parse(text) as Record<string, unknown>))
      }),
      { numRuns: 2000 }
    )
  })

  it("cut the ids of the objects in `input`, and only those, as the Responses key leaves them out", () => {
    const rule: CutRule = { names: DELIVERY, inArrays: { input: { names: new Set(["id"]) } } }
    const item = fc.uniqueArray(
      fc.tuple(fc.oneof(fc.string(), fc.constantFrom("id", "type", "input")), fc.jsonValue()),
      {
        selector: ([key]) => key,
        maxLength: 5
      }
    ).map((members) => Object.fromEntries(members))
    const input = fc.array(fc.oneof(item, fc.jsonValue()), { maxLength: 5 })
    fc.assert(
      fc.property(body, input, fc.boolean(), spacing, (members, items, first, space) => {
        const value = Object.fromEntries(first ? [["input", items], ...members] : [...members, ["input", items]])
        const text = JSON.stringify(value, null, space)
        const expected = withoutDelivery(JSON.parse(text) as Record<string, unknown>)
        if (Array.isArray(expected.input)) {
          expected.input = expected.input.map((entry: unknown) => {
            if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return entry
            const { id: _id, ...rest } = entry as Record<string, unknown>
            return rest
          })
        }
        assert.deepEqual(JSON.parse(kept(text, rule)), expected)
      }),
      { numRuns: 2000 }
    )
  })

  it("read a member named __proto__ or constructor as any other, not as a rule an object inherits", () => {
    const rule: CutRule = { names: DELIVERY, inArrays: { input: { names: new Set(["id"]) } } }
    const text = `{"__proto__":[{"id":1,"x":2}],"constructor":[{"names":3}],"input":[{"id":"a","y":4}],"stream":true}`
    assert.equal(kept(text, rule), `{"__proto__":[{"id":1,"x":2}],"constructor":[{"names":3}],"input":[{"y":4}]}`)
  })

  it("cut nothing nested, and nothing in a string that reads like a member", () => {
    const text = JSON.stringify({
      messages: [{ role: "user", content: "\"stream\": true, \"metadata\": {}", metadata: { x: 1 } }],
      tools: { stream: true },
      "quoted \\\"stream\\\"": "\\",
      stream: true,
      metadata: { user_id: "session-1" }
    })
    assert.deepEqual(JSON.parse(kept(text)), {
      messages: [{ role: "user", content: "\"stream\": true, \"metadata\": {}", metadata: { x: 1 } }],
      tools: { stream: true },
      "quoted \\\"stream\\\"": "\\"
    })
  })

  it("are the same for bodies that differ only in their delivery fields", () => {
    const turn = (extra: Record<string, unknown>) =>
      kept(JSON.stringify({ model: "m", ...extra, messages: [{ role: "user", content: "hi" }], ...extra }))
    assert.equal(turn({ stream: true, metadata: { user_id: "a" } }), turn({}))
    assert.equal(turn({ metadata: { user_id: "b" } }), turn({ stream: false }))
  })

  it("keep an escaped name, which a parser reads as a delivery field, rather than guess", () => {
    assert.equal(kept(`{"stre\\u0061m":true,"a":1}`), `{"stre\\u0061m":true,"a":1}`)
  })

  it("are refused for what is not one JSON object", () => {
    for (const text of ["[1,2]", "\"stream\"", "{\"a\":1", "{\"a\" 1}", "{\"a\":\"open}"]) {
      assert.equal(keptSpans(encoder.encode(text), { names: DELIVERY }), undefined, text)
    }
  })
})
