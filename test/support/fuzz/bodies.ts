// A generator of request bodies per API (OpenAI Chat Completions, Anthropic Messages, the native /api/chat), and of
// any body a client could send to a route: its own API's (often broken), another API's, truncated, not UTF-8,
// oversized. A table of the wire formats' fields, so longer than the rest: split, it would be read in two places.
import fc from "fast-check"
import { type Family, FUZZ_MAX_BODY_BYTES } from "./request.ts"
import { deepJson, type Entries, optionalFields, orWeird, rarely, text, toJson, weird, withExtras } from "./values.ts"

const models = fc.constantFrom("gpt-4o-mini", "", "gpt-4o", "claude-sonnet-4-5", " ")
const imageUrls = fc.constantFrom(
  "data:image/png;base64,iVBORw0KGgo=",
  "https://example.com/cat.png",
  "data:;base64,",
  "data:image/png;base64"
)

const openaiPart = fc.oneof(
  { weight: 4, arbitrary: optionalFields({ type: fc.constant("text"), text: orWeird(text, 3) }, ["type"]) },
  {
    weight: 1,
    arbitrary: optionalFields({
      type: fc.constant("image_url"),
      image_url: orWeird(fc.record({ url: orWeird(imageUrls) }))
    }, ["type"])
  },
  {
    weight: 1,
    arbitrary: optionalFields({ type: orWeird(fc.constantFrom("input_audio", "file", "refusal", "")), text: weird }, [
      "type"
    ])
  },
  { weight: 1, arbitrary: weird }
)
const toolCall = optionalFields({
  id: orWeird(text),
  type: orWeird(fc.constant("function")),
  function: orWeird(
    optionalFields({ name: orWeird(text), arguments: orWeird(fc.constantFrom("{}", "{\"a\":1}", "not json", "")) }, [
      "name"
    ])
  )
}, ["function"])
const openaiMessage = optionalFields({
  role: orWeird(fc.constantFrom("system", "developer", "user", "assistant", "tool", "function")),
  content: fc.oneof({ weight: 8, arbitrary: text }, fc.constant(null), {
    weight: 2,
    arbitrary: fc.array(openaiPart, { maxLength: 4 })
  }, weird),
  name: text,
  tool_call_id: text,
  tool_calls: orWeird(fc.array(toolCall, { maxLength: 2 }))
}, ["role", "content"])
const openaiTool = orWeird(fc.record({
  type: orWeird(fc.constant("function")),
  function: orWeird(optionalFields({ name: orWeird(text), description: text, parameters: weird }, ["name"]))
}))

const openaiBody = withExtras(
  fc.tuple(
    fc.array(openaiMessage, { maxLength: 3 }),
    fc.option(text.map((content) => ({ role: "user", content })), { freq: 12 }),
    optionalFields({
      model: orWeird(models),
      stream: orWeird(fc.boolean()),
      stream_options: orWeird(fc.record({ include_usage: fc.boolean() })),
      temperature: orWeird(fc.double({ min: 0, max: 2, noNaN: true })),
      max_tokens: orWeird(fc.integer({ min: 1, max: 4096 })),
      n: orWeird(fc.integer({ min: 1, max: 3 })),
      seed: orWeird(fc.integer()),
      tools: orWeird(fc.array(openaiTool, { maxLength: 2 })),
      tool_choice: orWeird(
        fc.constantFrom("auto", "none", "required", { type: "function", function: { name: "f" } }, { type: "function" })
      ),
      response_format: orWeird(fc.constantFrom({ type: "json_object" }, { type: "text" })),
      stop: orWeird(fc.oneof(text, fc.array(text, { maxLength: 3 })))
    }, []),
    rarely(weird)
  ).map(([history, last, fields, messagesOverride]) => ({
    messages: messagesOverride ?? (last ? [...history, last] : history),
    ...fields
  }))
)

const anthropicSource = orWeird(fc.oneof(
  fc.record({
    type: fc.constant("base64"),
    media_type: orWeird(fc.constantFrom("image/png", "image/jpeg", "")),
    data: orWeird(fc.constantFrom("iVBORw0KGgo=", "", "!!"))
  }),
  fc.record({ type: fc.constant("url"), url: orWeird(imageUrls) }),
  optionalFields({ type: weird, data: weird, url: weird }, [])
))
const anthropicBlock: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: optionalFields({ type: fc.constant("text"), text: orWeird(text, 3) }, ["type"]) },
  { weight: 1, arbitrary: optionalFields({ type: fc.constant("image"), source: anthropicSource }, ["type"]) },
  {
    weight: 1,
    arbitrary: optionalFields({ type: fc.constant("tool_use"), id: orWeird(text), name: orWeird(text), input: weird }, [
      "type"
    ])
  },
  {
    weight: 1,
    arbitrary: optionalFields({
      type: fc.constant("tool_result"),
      tool_use_id: orWeird(text),
      content: fc.oneof(
        text,
        fc.array(
          optionalFields({ type: fc.constantFrom("text", "image"), text: orWeird(text), source: anthropicSource }, [
            "type"
          ]),
          { maxLength: 2 }
        ),
        weird
      ),
      is_error: orWeird(fc.boolean())
    }, ["type"])
  },
  {
    weight: 1,
    arbitrary: optionalFields({
      type: fc.constantFrom("document", "thinking", "redacted_thinking", "server_tool_use", ""),
      source: anthropicSource,
      thinking: weird
    }, ["type"])
  },
  { weight: 1, arbitrary: weird }
)
const anthropicMessage = optionalFields({
  role: orWeird(fc.constantFrom("user", "assistant")),
  content: fc.oneof({ weight: 6, arbitrary: text }, {
    weight: 4,
    arbitrary: fc.array(anthropicBlock, { maxLength: 4 })
  }, { weight: 1, arbitrary: weird })
}, ["role", "content"])

const anthropicBody = withExtras(
  fc.tuple(
    fc.array(anthropicMessage, { maxLength: 3 }),
    fc.option(text.map((content) => ({ role: "user", content })), { freq: 12 }),
    optionalFields({
      model: orWeird(models),
      max_tokens: orWeird(fc.integer({ min: 1, max: 4096 })),
      system: orWeird(
        fc.oneof(
          text,
          fc.array(optionalFields({ type: fc.constant("text"), text: orWeird(text) }, ["type"]), { maxLength: 2 })
        )
      ),
      stream: orWeird(fc.boolean()),
      tools: orWeird(
        fc.array(optionalFields({ name: orWeird(text), description: text, input_schema: weird }, ["name"]), {
          maxLength: 2
        })
      ),
      tool_choice: orWeird(
        fc.constantFrom({ type: "auto" }, { type: "any" }, { type: "none" }, { type: "tool", name: "f" }, {
          type: "tool"
        })
      ),
      stop_sequences: orWeird(fc.array(text, { maxLength: 2 })),
      temperature: orWeird(fc.double({ min: 0, max: 1, noNaN: true })),
      top_k: weird,
      metadata: orWeird(fc.record({ user_id: text }))
    }, ["model", "max_tokens"]),
    rarely(weird)
  ).map(([history, last, fields, messagesOverride]) => ({
    messages: messagesOverride ?? (last ? [...history, last] : history),
    ...fields
  }))
)

const nativeBody = withExtras(optionalFields({ prompt: orWeird(text, 8), model: orWeird(models) }, ["prompt"]))

const bodyFor: Record<Family, fc.Arbitrary<Entries>> = {
  openai: openaiBody,
  anthropic: anthropicBody,
  native: nativeBody
}

const encoder = new TextEncoder()

/** Any body a client could send: mostly the route's own API (often broken), sometimes another API's, or not JSON. */
export const bodyArbitrary = (family: Family): fc.Arbitrary<string | Uint8Array> =>
  fc.oneof(
    { weight: 30, arbitrary: bodyFor[family].map(toJson) },
    {
      weight: 2,
      arbitrary: fc.constantFrom<Family>("openai", "anthropic", "native").chain((other) => bodyFor[other]).map(toJson)
    },
    {
      weight: 2,
      arbitrary: fc.tuple(bodyFor[family].map(toJson), fc.double({ min: 0, max: 1, noNaN: true })).map(([json, at]) =>
        json.slice(0, Math.floor(json.length * at))
      )
    },
    { weight: 1, arbitrary: fc.tuple(bodyFor[family].map(toJson), text).map(([json, garbage]) => json + garbage) },
    { weight: 1, arbitrary: bodyFor[family].map((body) => `\uFEFF${toJson(body)}`) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "",
        " ",
        "\n",
        "null",
        "[]",
        "1",
        "\"x\"",
        "true",
        "{}",
        "{",
        "NaN",
        "{\"a\":1,}",
        "\u0000",
        "{\"messages\":[]}"
      )
    },
    { weight: 1, arbitrary: text },
    { weight: 1, arbitrary: deepJson.map(toJson) },
    // Bytes that are not UTF-8 (a lone continuation byte, an overlong NUL, an encoded surrogate) inside a JSON string.
    {
      weight: 1,
      arbitrary: fc.tuple(
        bodyFor[family].map(toJson),
        fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80], [0x00])
      )
        .map(([json, bytes]) => {
          const at = json.lastIndexOf("\"") > 0 ? json.lastIndexOf("\"") : json.length
          return new Uint8Array([...encoder.encode(json.slice(0, at)), ...bytes, ...encoder.encode(json.slice(at))])
        })
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: FUZZ_MAX_BODY_BYTES + 1, max: FUZZ_MAX_BODY_BYTES * 3 }).map((size) =>
        toJson({
          model: "gpt-4o-mini",
          prompt: "x".repeat(size),
          messages: [{ role: "user", content: "y".repeat(size) }]
        })
      )
    }
  )
