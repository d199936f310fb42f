/**
 * The reliability fuzzer, shared by test/reliability/fuzz.test.ts and bench/fuzz.ts: fast-check generators of
 * hostile HTTP requests for every route, two ways to send them (the gateway's `fetch` in-process, or a real
 * loopback socket for chunked, slow and oversized bodies), the checks every response must pass, and a runner that
 * keeps going after a failure so one run lists every distinct defect, each shrunk to a small reproducer. The
 * gateways run in this process (Node) or on Bun's and Deno's own servers in processes of their own, reached by
 * socket only and watched from outside.
 */
import fc from "fast-check"
import assert from "node:assert/strict"
import { AsyncLocalStorage } from "node:async_hooks"
import { once } from "node:events"
import { readFileSync } from "node:fs"
import http from "node:http"
import { after, before, describe, it } from "node:test"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { startFakeOpenAI } from "./fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "./gateway.ts"
import { runtimeCommand, type RuntimeName, startProcess } from "./processes.ts"

export type Target = "open" | "secured" | "semantic"
type Family = "openai" | "anthropic" | "native"

export interface FuzzRequest {
  readonly target: Target
  readonly transport: "in-process" | "socket"
  readonly method: string
  readonly path: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: string | Uint8Array | undefined
  /** `whole` declares a Content-Length; `chunked` and `slow` stream the body in pieces without one. */
  readonly delivery: "whole" | "chunked" | "slow"
}

/** One property run: a request, sometimes sent again or with a small change, so caches hit and near-miss. */
export type Scenario = ReadonlyArray<FuzzRequest>

export const FUZZ_GATEWAY_KEY = "gw-fuzz-key-0123456789"
/** Small, so oversized bodies are cheap to send; prompts of 20–60 KB still fit. */
export const FUZZ_MAX_BODY_BYTES = 65_536

// ---- JSON text with what JSON.stringify cannot write: duplicate keys, deep nesting, literals like 1e400 ----

class Raw {
  constructor(readonly json: string) {}
}
class Entries {
  constructor(readonly entries: ReadonlyArray<readonly [string, unknown]>) {}
}

const toJson = (value: unknown): string => {
  if (value instanceof Raw) return value.json
  if (value instanceof Entries) {
    return `{${value.entries.map(([key, item]) => `${JSON.stringify(key)}:${toJson(item)}`).join(",")}}`
  }
  if (Array.isArray(value)) return `[${value.map(toJson).join(",")}]`
  if (typeof value === "object" && value !== null) return toJson(new Entries(Object.entries(value)))
  return JSON.stringify(value) ?? "null"
}

// ---- values ----

const edgeStrings = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\uD800",
  "\uDFFF",
  "x\uDBFF",
  "\uDC00y",
  "\u202Eevil\u202C",
  "مرحبا بالعالم",
  "שלום עולם",
  "👨‍👩‍👧‍👦🏳️‍🌈🇩🇪",
  "e\u0301\u0302\u0303\u0304",
  "\uFEFF",
  "\u2028\u2029",
  "\\",
  "\"",
  "</script>",
  "%s%n%x",
  "${x}",
  "{{x}}",
  "null",
  "__proto__",
  "constructor",
  "toString",
  "\r\n\r\n",
  "\t",
  "What is the capital of France?",
  "How do I reset my password?"
]
const utf16Unit = fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code))

/** Prompts of 2–40 KB (20–40 KB for a pasted document): long runs of one pattern make a backtracking regex slow. */
const longTextOf = (minChars: number) =>
  fc.tuple(
    // Whitespace is tabs and newlines: the fake upstream streams its echo word by word (space-separated), 2 ms a word.
    fc.constantFrom(
      "a",
      "ab",
      "foo_bar\t",
      "A",
      "\t",
      "1.",
      "x()",
      "Word\n",
      "camelCase",
      "é",
      "😀",
      "The_quick_brown_fox.\n",
      "\n",
      "aA_"
    ),
    fc.integer({ min: minChars, max: 40_000 })
  ).map(([unit, chars]) => unit.repeat(Math.ceil(chars / unit.length)).slice(0, chars))
const longText = longTextOf(2_000)

const text: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: utf16Unit, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 3, arbitrary: fc.constantFrom(...edgeStrings) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...edgeStrings), { maxLength: 8 }).map((parts) => parts.join(" ")) },
  { weight: 1, arbitrary: longText }
)

const deepJson = fc.tuple(
  fc.constantFrom("[", "{\"a\":", "[{\"b\":", "{\"type\":\"text\",\"text\":"),
  fc.integer({ min: 64, max: 20_000 })
)
  .map(([open, depth]) =>
    new Raw(`${open.repeat(depth)}1${(open.startsWith("[{") ? "}]" : open.startsWith("[") ? "]" : "}").repeat(depth)}`)
  )

const weird: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(new Raw("1e400"), new Raw("-0"), new Raw("123456789012345678901234567890"), new Raw("-1e-400")),
  text,
  fc.constant({ toString: 1 }),
  fc.constant({ valueOf: 1, toString: 1 }),
  fc.constant(new Raw("{\"__proto__\":{\"polluted\":1},\"constructor\":{\"prototype\":1}}")),
  fc.constant([]),
  fc.constant({}),
  deepJson,
  fc.array(text, { maxLength: 3 }),
  fc.dictionary(text, text, { maxKeys: 3 })
)

const orWeird = <A>(arbitrary: fc.Arbitrary<A>, weight = 15) =>
  fc.oneof({ weight, arbitrary: arbitrary as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: weird })

/** `undefined` mostly, now and then a value (fc.option is the other way round: its `freq` is the chance of nil). */
const rarely = (arbitrary: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 30, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary })

const optionalFields = <T extends Record<string, fc.Arbitrary<unknown>>>(
  fields: T,
  required: ReadonlyArray<keyof T & string>
) => fc.record(fields, { requiredKeys: required as Array<keyof T & string> })

/** Unknown top-level fields (part of the cache key) and, sometimes, a duplicate of a known one. */
const withExtras = (body: fc.Arbitrary<Record<string, unknown>>) =>
  fc.tuple(
    body,
    fc.array(
      fc.tuple(
        fc.oneof(text, fc.constantFrom("messages", "model", "stream", "prompt", "max_tokens", "__proto__")),
        weird
      ),
      { maxLength: 2 }
    ),
    fc.constantFrom("after", "before")
  ).map(([fields, extras, where]) => {
    const entries = Object.entries(fields)
    return new Entries(where === "after" ? [...entries, ...extras] : [...extras, ...entries])
  })

// ---- bodies per API ----

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
const bodyArbitrary = (family: Family): fc.Arbitrary<string | Uint8Array> =>
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

// ---- routes and headers ----

const chatPaths: Record<string, Family> = {
  "/v1/chat/completions": "openai",
  "/v1/messages": "anthropic",
  "/api/chat": "native"
}
const knownPaths = [...Object.keys(chatPaths), "/healthz", "/health", "/v1/models"]
const unknownPaths = fc.oneof(
  fc.constantFrom(
    "/",
    "/v1",
    "/v1/chat/completions/",
    "/V1/CHAT/COMPLETIONS",
    "/v1/messages/count_tokens",
    "/v1/messages/",
    "/api/chat?x=1&x=2",
    "/v1/messages?beta=true",
    "/healthz/",
    "//v1/chat/completions",
    "/v1/../v1/models",
    "/%00",
    "/%ZZ",
    "/v1/chat/completions%2F",
    `/${"a".repeat(5_000)}`,
    "/%C3%A9",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/responses/resp_x",
    "/metrics"
  ),
  fc.array(text.filter((segment) => segment.length < 200), { minLength: 1, maxLength: 3 }).map((segments) =>
    `/${segments.map((segment) => encodeURIComponent(segment.replace(/\p{Cs}/gu, "\uFFFD"))).join("/")}`
  )
)
const route = fc.oneof(
  { weight: 60, arbitrary: fc.constantFrom(...Object.keys(chatPaths)).map((path) => ({ method: "POST", path })) },
  {
    weight: 6,
    arbitrary: fc.constantFrom("/healthz", "/health", "/v1/models").map((path) => ({ method: "GET", path }))
  },
  {
    weight: 6,
    arbitrary: fc.record({
      method: fc.constantFrom("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "FOO", "TRACE"),
      path: fc.constantFrom(...knownPaths)
    })
  },
  { weight: 6, arbitrary: fc.record({ method: fc.constantFrom("GET", "POST", "DELETE"), path: unknownPaths }) }
)

/** What a header value can carry on the wire: UTF-8 bytes read back as Latin-1, without NUL, CR, LF or controls. */
const byteString = (value: string) =>
  Array.from(encoder.encode(value), (byte) => String.fromCharCode(byte)).join("").replace(
    /[\u0000-\u0008\u000a-\u001f\u007f]/g,
    ""
  )

// Under 1,000 bytes each: Node's own 16 KB limit on a request head (a bare 431) is not the gateway's to answer.
const headerValue = fc.oneof(text.filter((value) => value.length < 300), fc.constant("x".repeat(900))).map(byteString)
const header: fc.Arbitrary<readonly [string, string]> = fc.oneof(
  fc.constantFrom<readonly [string, string]>(
    ["authorization", `Bearer ${FUZZ_GATEWAY_KEY}`],
    ["authorization", `bearer   ${FUZZ_GATEWAY_KEY}  `],
    ["authorization", "Bearer"],
    ["authorization", "Bearer "],
    ["authorization", "Basic dXNlcjpwYXNz"],
    ["authorization", `Token ${FUZZ_GATEWAY_KEY}`],
    ["x-api-key", FUZZ_GATEWAY_KEY],
    ["x-api-key", ""],
    ["api-key", FUZZ_GATEWAY_KEY],
    ["cache-control", "no-cache"],
    ["cache-control", "no-store"],
    ["cache-control", "No-Cache, NO-STORE"],
    ["cache-control", "max-age=0"],
    ["x-isartor-similarity-threshold", "0"],
    ["x-isartor-similarity-threshold", "1"],
    ["x-isartor-similarity-threshold", "0.5"],
    ["x-isartor-similarity-threshold", "-0.1"],
    ["x-isartor-similarity-threshold", "1.01"],
    ["x-isartor-similarity-threshold", "NaN"],
    ["x-isartor-similarity-threshold", "Infinity"],
    ["x-isartor-similarity-threshold", "0x1"],
    ["x-isartor-similarity-threshold", " 0.9 "],
    ["x-isartor-similarity-threshold", "1e-400"],
    ["x-isartor-similarity-threshold", "0.9, 0.8"],
    ["accept", "text/event-stream"],
    ["accept-encoding", "gzip, br"],
    ["transfer-encoding", "identity"]
  ),
  fc.tuple(
    fc.constantFrom(
      "authorization",
      "x-api-key",
      "api-key",
      "cache-control",
      "x-isartor-similarity-threshold",
      "x-isartor-session-id",
      "content-type",
      "x-unknown"
    ),
    headerValue
  ),
  fc.tuple(fc.double().map(String), fc.constant("x-isartor-similarity-threshold")).map(([value, name]) =>
    [name, value] as const
  )
)
const contentType = fc.option(
  fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=utf-16",
    "",
    "*/*",
    "application/JSON",
    "application/octet-stream"
  ),
  { freq: 6, nil: undefined }
)

const targetWeights: Record<Target, number> = { open: 11, secured: 4, semantic: 5 }

/**
 * How the gateways are reached. `inProcess` false: they run in other processes, every request goes over a socket.
 * `unparsedMethods`: methods the runtime's own HTTP server drops before the gateway sees them, so none is sent.
 */
export interface Reach {
  readonly inProcess: boolean
  readonly unparsedMethods: ReadonlyArray<string>
}
const inThisProcessReach: Reach = { inProcess: true, unparsedMethods: [] }

export const fuzzRequest = (
  targets: ReadonlyArray<Target>,
  { inProcess, unparsedMethods }: Reach = inThisProcessReach
): fc.Arbitrary<FuzzRequest> => {
  const requests = fc.record({
    target: fc.oneof(...targets.map((target) => ({ weight: targetWeights[target], arbitrary: fc.constant(target) }))),
    // Most callers of a secured gateway send its key; the rest test the 401.
    auth: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    transport: fc.oneof({ weight: 17, arbitrary: fc.constant("in-process" as const) }, {
      weight: 3,
      arbitrary: fc.constant("socket" as const)
    }),
    route,
    headers: fc.array(header, { maxLength: 5 }),
    contentType,
    delivery: fc.oneof({ weight: 8, arbitrary: fc.constant("whole" as const) }, {
      weight: 1,
      arbitrary: fc.constantFrom("chunked" as const, "slow" as const)
    })
  }).chain(({ route: { method, path }, contentType, headers, auth, ...rest }) =>
    bodyArbitrary(chatPaths[path] ?? "openai").map((body): FuzzRequest => ({
      ...rest,
      method,
      path,
      headers: [
        ...(auth && rest.target === "secured" ? [["x-api-key", FUZZ_GATEWAY_KEY] as const] : []),
        ...(contentType === undefined ? [] : [["content-type", contentType] as const]),
        ...headers
      ],
      // A body on GET or HEAD only exists on the wire; on TRACE, Node's HTTP parser refuses it (a bare 400).
      body: method === "GET" || method === "HEAD" || method === "TRACE" ? undefined : body,
      // fetch refuses TRACE, so it goes over a socket; Node's HTTP parser refuses FOO (a bare 400): in-process.
      ...(method === "TRACE" || !inProcess
        ? { transport: "socket" as const }
        : method === "FOO"
        ? { transport: "in-process" as const }
        : {})
    }))
  )
  return unparsedMethods.length === 0 ? requests : requests.filter(({ method }) => !unparsedMethods.includes(method))
}

/** The same request again (an exact hit), or its prompt with a small change (a semantic near-miss). */
const varied = (request: FuzzRequest, change: "again" | "variant"): FuzzRequest => {
  if (change === "again" || typeof request.body !== "string") return request
  return { ...request, body: request.body.replace(/"(content|prompt)":"/, "\"$1\":\"Please, ") }
}

/** A long pasted prompt, then the same prompt reworded a little: L1b finds the first as a candidate for the second. */
const pastedTwice = (inProcess: boolean): fc.Arbitrary<Scenario> =>
  longTextOf(20_000).map((prompt) => {
    const ask = (text: string): FuzzRequest => ({
      target: "semantic",
      transport: inProcess ? "in-process" : "socket",
      method: "POST",
      path: "/api/chat",
      headers: [["content-type", "application/json"]],
      body: JSON.stringify({ prompt: text }),
      delivery: "whole"
    })
    return [ask(prompt), ask(`Please, ${prompt}`)]
  })

export const fuzzScenario = (targets: ReadonlyArray<Target>, reach = inThisProcessReach): fc.Arbitrary<Scenario> => {
  const generated = fc.tuple(
    fuzzRequest(targets, reach),
    fc.constantFrom("once", "once", "once", "once", "once", "once", "again", "variant")
  )
    .map(([request, repeat]): Scenario => (repeat === "once" ? [request] : [request, varied(request, repeat)]))
  return targets.includes("semantic")
    ? fc.oneof({ weight: 150, arbitrary: generated }, { weight: 1, arbitrary: pastedTwice(reach.inProcess) })
    : generated
}

/** The route a request reached, coarsely: one defect on many odd paths is one finding. */
const routeOf = (request: FuzzRequest) => {
  const pathname = new URL(`http://x${request.path}`).pathname
  const chat = request.method === "POST" && chatPaths[pathname] !== undefined
  if (chat || (request.method === "GET" && ["/healthz", "/health", "/v1/models"].includes(pathname))) {
    return `${request.method} ${pathname}`
  }
  return familyOfPath(request.path) === "anthropic"
    ? "another method or subpath of /v1/messages"
    : "an unknown route or method"
}

export const familyOfPath = (path: string): Family | "other" => {
  const pathname = new URL(`http://x${path}`).pathname
  return pathname === "/v1/messages" || pathname.startsWith("/v1/messages/")
    ? "anthropic"
    : chatPaths[pathname] ?? "other"
}

// ---- sending ----

export interface Observed {
  readonly status: number
  readonly contentType: string
  readonly body: string
  /** The request never got a whole response: the connection broke, the handler threw, or it timed out. */
  readonly error?: string
}

const REQUEST_TIMEOUT_MS = 20_000
const bytesOf = (body: string | Uint8Array) => (typeof body === "string" ? encoder.encode(body) : body)
const piecesOf = (bytes: Uint8Array) => {
  const size = Math.max(1, Math.ceil(bytes.length / 5))
  return Array.from({ length: Math.ceil(bytes.length / size) }, (_, i) => bytes.subarray(i * size, (i + 1) * size))
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const withTimeout = <A>(promise: Promise<A>, onTimeout: () => A) =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => resolve(onTimeout()), REQUEST_TIMEOUT_MS)
    promise.then((value) => (clearTimeout(timer), resolve(value)), (error) => (clearTimeout(timer), reject(error)))
  })

const describeError = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error))

/** Through the gateway's own `fetch`, as a runtime adapter would call it. */
const sendInProcess = async (
  fetchHandler: RunningGateway["gateway"]["fetch"],
  request: FuzzRequest
): Promise<Observed> => {
  const headers = new Headers()
  for (const [name, value] of request.headers) headers.append(name, value)
  let body: BodyInit | undefined
  if (request.body !== undefined) {
    const bytes = bytesOf(request.body)
    if (request.delivery === "whole") {
      headers.set("content-length", String(bytes.length))
      body = bytes as Uint8Array<ArrayBuffer>
    } else {
      const pieces = piecesOf(bytes)
      body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (request.delivery === "slow") await sleep(5)
          const piece = pieces.shift()
          if (piece) controller.enqueue(piece)
          else controller.close()
        }
      })
    }
  }
  const exchange = async (): Promise<Observed> => {
    const response = await fetchHandler(
      new Request(
        `http://gateway.test${request.path}`,
        { method: request.method, headers, body, duplex: "half" } as RequestInit
      )
    )
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      body: await response.text()
    }
  }
  return withTimeout(
    exchange(),
    () => ({ status: 0, contentType: "", body: "", error: `no response within ${REQUEST_TIMEOUT_MS} ms` })
  )
    .catch((error: unknown) => ({
      status: 0,
      contentType: "",
      body: "",
      error: `the handler threw ${describeError(error)}`
    }))
}

const socketAgent = new http.Agent({ keepAlive: true, maxSockets: 16 })

/** Over a real loopback connection: what Node's HTTP server, Hono's adapter and the body limit see in production. */
const sendOverSocket = (baseUrl: string, request: FuzzRequest, retried = false): Promise<Observed> =>
  new Promise((resolve) => {
    const url = new URL(baseUrl)
    let settled = false
    let bodySent = request.body === undefined || request.delivery === "whole"
    const settle = (observed: Observed) => {
      if (!settled) (settled = true), resolve(observed)
      // Answered before the whole body was sent (a 413, a 404): the connection is mid-body, it cannot carry more.
      if (!bodySent) outgoing.destroy()
    }
    const outgoing = http.request({
      host: url.hostname,
      port: url.port,
      method: request.method,
      path: request.path,
      agent: socketAgent
    })
    for (const [name, value] of request.headers) {
      // Framing headers belong to the connection: a contradictory one gets a bare 400 from Node's HTTP parser.
      if (name === "transfer-encoding" || name === "content-length") continue
      const previous = outgoing.getHeader(name)
      outgoing.setHeader(name, previous === undefined ? value : `${String(previous)}, ${value}`)
    }
    outgoing.setTimeout(
      REQUEST_TIMEOUT_MS,
      () => outgoing.destroy(new Error(`no response within ${REQUEST_TIMEOUT_MS} ms`))
    )
    outgoing.on("error", (error) => {
      // A kept-alive connection the server closed just as this request went out: Node's documented race, retried once.
      if (outgoing.reusedSocket && !retried && !settled && (error as NodeJS.ErrnoException).code === "ECONNRESET") {
        settled = true
        return void sendOverSocket(baseUrl, request, true).then(resolve)
      }
      settle({ status: 0, contentType: "", body: "", error: `socket: ${describeError(error)}` })
    })
    outgoing.on("response", (response) => {
      const chunks: Array<Buffer> = []
      response.on("data", (chunk: Buffer) => chunks.push(chunk))
      response.on(
        "error",
        (error) =>
          settle({ status: 0, contentType: "", body: "", error: `socket: response broke: ${describeError(error)}` })
      )
      response.on(
        "end",
        () =>
          settle({
            status: response.statusCode ?? 0,
            contentType: String(response.headers["content-type"] ?? ""),
            body: Buffer.concat(chunks).toString("utf8")
          })
      )
    })
    if (request.body === undefined) return void outgoing.end()
    const bytes = bytesOf(request.body)
    if (request.delivery === "whole") {
      outgoing.setHeader("content-length", bytes.length)
      return void outgoing.end(bytes)
    }
    // Explicit: Node's client sends a DELETE or OPTIONS body unframed otherwise (the server reads the next request).
    outgoing.setHeader("transfer-encoding", "chunked")
    void (async () => {
      for (const piece of piecesOf(bytes)) {
        // The gateway may answer (413) before the body is all sent: stop writing then.
        if (settled || outgoing.destroyed) return
        outgoing.write(piece)
        if (request.delivery === "slow") await sleep(20)
      }
      bodySent = true
      outgoing.end()
    })()
  })

// ---- checking ----

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Why an error body is not what the client's SDK reads, or undefined when it is. */
const errorFormatProblem = (family: Family | "other", body: string): string | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return "error body is not JSON"
  }
  if (family === "anthropic") {
    const error = isObject(parsed) ? parsed.error : undefined
    return isObject(parsed) && parsed.type === "error" && isObject(error) && typeof error.type === "string" &&
        typeof error.message === "string"
      ? undefined
      : "error body is not Anthropic's {type:\"error\",error:{type,message}}"
  }
  const error = isObject(parsed) ? parsed.error : undefined
  return isObject(error) && typeof error.message === "string"
    ? undefined
    : "error body is not OpenAI's {error:{message}}"
}

/** What is wrong with a response, as a short, stable signature (the same defect gives the same text), or undefined. */
export const checkResponse = (request: FuzzRequest, observed: Observed): string | undefined => {
  if (observed.error !== undefined) return `no response (${observed.error.replace(/\d+/g, "N")})`
  if (observed.status === 500) return "status 500"
  if (request.method === "HEAD") return undefined
  // Prometheus' text exposition, not JSON, by design.
  if (
    request.method === "GET" && new URL(`http://x${request.path}`).pathname === "/metrics" && observed.status === 200
  ) {
    return observed.contentType.startsWith("text/plain")
      ? undefined
      : `GET /metrics: content-type ${observed.contentType}`
  }
  const family = familyOfPath(request.path)
  if (observed.status >= 400) {
    const problem = errorFormatProblem(family, observed.body)
    return problem && `status ${observed.status}: ${problem}`
  }
  if (observed.contentType.startsWith("text/event-stream")) {
    if (/^event: error$/m.test(observed.body) || /^data: \{"error"/m.test(observed.body)) {
      return "stream carries an error event"
    }
    const ending = family === "anthropic" ? "event: message_stop" : "data: [DONE]"
    return observed.body.includes(ending) ? undefined : `stream ends without ${ending}`
  }
  try {
    JSON.parse(observed.body)
    return undefined
  } catch {
    return `status ${observed.status}: body is not JSON`
  }
}

// ---- the gateways under test ----

/** A gateway under test, served in this process or by a runtime's own server in a process of its own. */
export interface FuzzGateway {
  readonly url: string
  /** The gateway's own `fetch`, when it runs in this process; a gateway in another process is reached by socket only. */
  readonly fetch: RunningGateway["gateway"]["fetch"] | undefined
  /** Hands `listener` what the gateway logs, a line (or, from a process, a chunk of its output) at a time. */
  readonly onLog: (listener: (text: string) => void) => void
  /** The process serving it, when it is not this one. */
  readonly process: {
    readonly pid: number
    /** How it ended (`code 1`, `SIGSEGV`), or undefined while it runs. */
    readonly exited: () => string | undefined
    readonly onExit: (listener: () => void) => void
    readonly output: () => string
  } | undefined
  close(): Promise<void>
}

export interface FuzzTargets {
  /** `node`: the gateways run in this process (most requests through their `fetch`); `bun`, `deno`: each runs
   * in a process of its own on that runtime's server, every request over a socket. */
  readonly runtime: RuntimeName
  readonly reach: Reach
  readonly gateways: Partial<Record<Target, FuzzGateway>>
  close(): Promise<void>
}

const reachOn: Record<RuntimeName, Reach> = {
  node: inThisProcessReach,
  // Bun's server closes the connection on a method it does not know (FOO): no answer at all, not even a 400, and
  // the gateway never sees the request.
  bun: { inProcess: false, unparsedMethods: ["FOO"] },
  deno: { inProcess: false, unparsedMethods: [] }
}

const inThisProcess = (running: RunningGateway): FuzzGateway => ({
  url: running.url,
  fetch: running.gateway.fetch,
  onLog: (listener) => {
    const push = running.warnings.push.bind(running.warnings)
    running.warnings.push = (...lines: Array<string>) => (lines.forEach(listener), push(...lines))
  },
  process: undefined,
  close: () => running.close()
})

const inItsOwnProcess = async (runtime: RuntimeName, env: Record<string, string>): Promise<FuzzGateway> => {
  const started = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
    ISARTOR__HOST_PORT: "127.0.0.1:0",
    ...env
  })
  const { child } = started
  const exited = () =>
    child.exitCode === null && child.signalCode === null
      ? undefined
      : child.signalCode ?? `code ${child.exitCode}`
  return {
    url: started.url,
    fetch: undefined,
    onLog: (listener) => {
      for (const stream of [child.stdout!, child.stderr!]) stream.on("data", (chunk: Buffer) => listener(String(chunk)))
    },
    process: { pid: child.pid!, exited, onExit: (listener) => child.once("exit", listener), output: started.output },
    close: async () => {
      if (exited() !== undefined) return
      const gone = once(child, "exit")
      started.stop()
      await gone
    }
  }
}

/**
 * A fake OpenAI upstream in this process and a gateway per target, each listening on loopback: `open` (no gateway
 * key), `secured` (a gateway key, so the Authorization variants matter) and, with `semantic`, `semantic` (L1b on the
 * real model). On `bun` and `deno` each gateway is `runtimes/<runtime>.ts` in a process of its own, which loads its
 * runtime's own L1b backends: there `semantic` only says whether to start that gateway.
 */
export const startFuzzTargets = async (
  options: { readonly runtime?: RuntimeName; readonly semantic?: SemanticBackends | undefined } = {}
): Promise<FuzzTargets> => {
  const runtime = options.runtime ?? "node"
  const upstream = await startFakeOpenAI({ record: false })
  const env = upstreamEnv(upstream.url, {
    ISARTOR__MAX_BODY_BYTES: String(FUZZ_MAX_BODY_BYTES),
    ISARTOR__L3_MAX_RETRIES: "0",
    ISARTOR__L3_TIMEOUT_SECS: "10"
  })
  const start = (extra: Record<string, string>) =>
    runtime === "node"
      ? startTestGateway({ ...env, ...extra }).then(inThisProcess)
      : inItsOwnProcess(runtime, { ...env, ...extra })
  const gateways: Partial<Record<Target, FuzzGateway>> = {}
  try {
    gateways.open = await start({ ISARTOR__CACHE_MODE: "exact" })
    gateways.secured = await start({ ISARTOR__CACHE_MODE: "exact", ISARTOR__GATEWAY_API_KEY: FUZZ_GATEWAY_KEY })
    if (options.semantic) {
      gateways.semantic = runtime === "node"
        ? inThisProcess(await startTestGateway(env, {}, options.semantic))
        : await inItsOwnProcess(runtime, env)
    }
  } catch (error) {
    await Promise.all(Object.values(gateways).map((gateway) => gateway.close()))
    await upstream.close()
    throw error
  }
  return {
    runtime,
    reach: reachOn[runtime],
    gateways,
    close: async () => {
      await Promise.all(Object.values(gateways).map((gateway) => gateway.close()))
      await upstream.close()
    }
  }
}

// ---- the run ----

const STALL_MS = 1_000
/** Shrinking one failure stops after this long (a blocked loop costs seconds a try); the run goes on. */
const SHRINK_BUDGET_MS = 12_000

export interface Stall {
  readonly from: number
  readonly to: number
  /** The gateway whose loop was blocked, when it runs in a process of its own; otherwise this process's loop. */
  readonly target?: Target
  /** The requests in flight while the loop was blocked: one of them (or the gateway itself) blocked it. */
  readonly inFlight: ReadonlyArray<string>
}

/**
 * Gaps in a 10 ms timer: how long the event loop (the gateways' and this file's) was blocked, and when. A gap in
 * which this process got under half a core is the machine being busy (2 cores shared), not the gateway's doing:
 * it is kept apart, as `starved`.
 */
const watchEventLoop = (inFlight: () => ReadonlyArray<string>) => {
  const stalls: Array<Stall> = []
  const starved: Array<{ readonly from: number; readonly to: number }> = []
  let last = performance.now()
  let lastCpu = process.cpuUsage()
  const timer = setInterval(() => {
    const now = performance.now()
    const cpu = process.cpuUsage(lastCpu)
    if (now - last > STALL_MS) {
      const cpuMs = (cpu.user + cpu.system) / 1000
      if (cpuMs < (now - last) / 2) starved.push({ from: last, to: now })
      else stalls.push({ from: last, to: now, inFlight: inFlight() })
    }
    last = now
    lastCpu = process.cpuUsage()
  }, 10)
  return {
    stallDuring: (_target: Target, from: number, to: number) =>
      Promise.resolve(stalls.find((stall) => stall.to >= from && stall.from <= to)),
    stalls,
    starved,
    stop: () => clearInterval(timer)
  }
}

/** CPU time a process has used, in ms (Linux: utime + stime from /proc, in ticks of 10 ms); undefined elsewhere. */
const cpuMsOf = (pid: number): number | undefined => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "").split(" ")
    return (Number(fields[11]) + Number(fields[12])) * 10
  } catch {
    return undefined
  }
}

/**
 * A gateway in another process has no timer in this one: its loop is watched from outside, by `GET /healthz` on a
 * fresh connection every 100 ms. A probe over 1 s during which the gateway's process used at least half a core is
 * its loop blocked; one in which it hardly ran, or in which this process's own loop stood still (the prober), is
 * the machine being busy: `starved`.
 */
const watchFromOutside = (
  gateways: Partial<Record<Target, FuzzGateway>>,
  inFlight: (target: Target) => ReadonlyArray<string>
) => {
  const prober = watchEventLoop(() => [])
  const stalls: Array<Stall> = []
  const starved: Array<{ readonly from: number; readonly to: number }> = []
  const probing = new Map<Target, { readonly from: number; readonly done: Promise<unknown> }>()
  let stopped = false
  const watch = async (target: Target, gateway: FuzzGateway, pid: number) => {
    while (!stopped && gateway.process?.exited() === undefined) {
      const cpuBefore = cpuMsOf(pid)
      const from = performance.now()
      const suspects = inFlight(target)
      const done = probeOnce(gateway.url)
      probing.set(target, { from, done })
      await done
      const to = performance.now()
      if (to - from > STALL_MS) {
        const cpuAfter = cpuMsOf(pid)
        const proberStood = [...prober.stalls, ...prober.starved].some((gap) => gap.to >= from && gap.from <= to)
        const ran = cpuBefore === undefined || cpuAfter === undefined || cpuAfter - cpuBefore >= (to - from) / 2
        if (proberStood || !ran) starved.push({ from, to })
        else stalls.push({ from, to, target, inFlight: [...new Set([...suspects, ...inFlight(target)])] })
      }
      probing.delete(target)
      await sleep(100)
    }
  }
  const watching = Object.entries(gateways).flatMap(([target, gateway]) =>
    gateway?.process ? [watch(target as Target, gateway, gateway.process.pid)] : []
  )
  return {
    /** A probe under way that began before the request ended is waited for: it may be the stall that overlaps it. */
    stallDuring: async (target: Target, from: number, to: number) => {
      const probe = probing.get(target)
      if (probe && probe.from <= to) await probe.done
      return stalls.find((stall) => stall.target === target && stall.to >= from && stall.from <= to)
    },
    stalls,
    starved,
    stop: () => {
      stopped = true
      prober.stop()
      return Promise.all(watching)
    }
  }
}

/** One line about a request, for a list of suspects: where it went and what its body was like. */
const summary = (request: FuzzRequest) => {
  const body = request.body === undefined
    ? "no body"
    : typeof request.body === "string"
    ? `${request.body.length} chars: ${compactString(request.body.slice(0, 20_000)).slice(0, 200)}`
    : `${request.body.length} bytes`
  return `${request.target}, ${request.transport}: ${request.method} ${request.path.slice(0, 60)} (${body})`
}

/** One `GET /healthz` on a connection of its own, as Kubernetes' probes do: its status, or why there was none. */
const probeOnce = (baseUrl: string) =>
  new Promise<{ readonly status: number } | { readonly error: string }>((resolve) => {
    const request = http.get(`${baseUrl}/healthz`, { agent: false, timeout: 10_000 }, (response) => {
      response.resume()
      response.on("end", () => resolve({ status: response.statusCode ?? 0 }))
    })
    request.on("timeout", () => request.destroy(new Error("timed out after 10 s")))
    request.on("error", (error) => resolve({ error: describeError(error) }))
  })

/** `GET /healthz` on a timer over its own connection, as a liveness probe would, with each round trip's time. */
export const probeHealthz = (baseUrl: string, everyMs = 100) => {
  const latencies: Array<number> = []
  const slow: Array<{ readonly from: number; readonly to: number }> = []
  const failures: Array<string> = []
  let stopped = false
  const probe = async () => {
    while (!stopped) {
      const started = performance.now()
      const answer = await probeOnce(baseUrl)
      const ended = performance.now()
      if ("error" in answer) failures.push(answer.error)
      else {
        latencies.push(ended - started)
        if (ended - started >= 1_000) slow.push({ from: started, to: ended })
        if (answer.status !== 200) failures.push(`status ${answer.status}`)
      }
      await sleep(everyMs)
    }
  }
  const running = probe()
  return {
    stop: async () => {
      stopped = true
      await running
      return { ...percentiles(latencies), failures, slow }
    }
  }
}

export const percentiles = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number) =>
    sorted.length === 0
      ? Number.NaN
      : Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2))
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) }
}

export interface Finding {
  readonly signature: string
  /** The shrunk failing scenario, as commands a person can paste. */
  readonly reproducer: string
  /** The gateway's own log line for it (the stack of an unhandled error), when it wrote one. */
  readonly log: string
  /** How many requests of the sweep failed this way. */
  readonly occurrences: number
  /** Whether the shrunk scenario failed again when re-run alone (a stall may only have been nearby). */
  readonly reproduced: boolean
}

export interface FuzzOptions {
  readonly seed: number
  /** Requests in the sweep (shrinking sends more, counted apart). */
  readonly requests: number
  readonly workers: number
  readonly targets: FuzzTargets
  /** Stop the sweep early, whatever the count, after this long. */
  readonly timeLimitMs: number
  readonly onProgress?: (line: string) => void
}

export interface FuzzResult {
  readonly seed: number
  readonly requests: number
  readonly shrinkRequests: number
  readonly elapsedMs: number
  readonly statusCounts: Record<string, number>
  readonly transportCounts: Record<string, number>
  readonly findings: ReadonlyArray<Finding>
  /** Every time the event loop was blocked over 1 s, relative to the start of the run (`target`: whose process). */
  readonly stalls: ReadonlyArray<
    {
      readonly atMs: number
      readonly blockedMs: number
      readonly target?: Target
      readonly inFlight: ReadonlyArray<string>
    }
  >
  /** Gaps over 1 s in which the gateway's process hardly ran (other processes had the cores), in performance.now() time. */
  readonly starved: ReadonlyArray<{ readonly from: number; readonly to: number }>
}

/**
 * The shrunk case as shell commands: a curl per request, the body from a node expression when it is not plain
 * text. `runtime`: the server the gateway ran on (`npm run start:<runtime>`).
 */
export const reproducer = (scenario: Scenario, runtime: RuntimeName = "node"): string =>
  scenario.map((request) => {
    const headers = request.headers.map(([name, value]) => ` -H ${shellQuote(`${name}: ${value}`)}`).join("")
    const curl = `curl -sS -X ${request.method} ${shellQuote(`http://localhost:8080${request.path}`)}${headers}`
    const via =
      `# ${request.target} gateway${
        request.target === "secured" ? ` (ISARTOR__GATEWAY_API_KEY=${FUZZ_GATEWAY_KEY})` : ""
      }` +
      `${
        request.target === "semantic" ? " (L1b on)" : ""
      }, ${request.transport}, ${request.delivery} body, ISARTOR__MAX_BODY_BYTES=${FUZZ_MAX_BODY_BYTES}${
        runtime === "node" ? "" : `, npm run start:${runtime}`
      }`
    if (request.body === undefined) return `${via}\n${curl}`
    const text = typeof request.body === "string" ? request.body : undefined
    const plain = text !== undefined && text.length <= 2_000 && /^[\x20-\x7e]*$/.test(text)
    const chunked = request.delivery === "whole" ? "" : " -H 'transfer-encoding: chunked'"
    if (plain) return `${via}\n${curl}${chunked} --data-binary ${shellQuote(text)}`
    const expression = text !== undefined
      ? compactString(text)
      : `Buffer.from(${JSON.stringify(Buffer.from(request.body).toString("base64"))}, "base64")`
    return `${via}\nnode -e ${shellQuote(`process.stdout.write(${expression})`)} | ${curl}${chunked} --data-binary @-`
  }).join("\n")

const shellQuote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`

/** A JS expression for a string, with long runs of a repeated unit written as `.repeat(n)`. */
const compactString = (value: string): string => {
  const parts: Array<string> = []
  let plain = ""
  for (let i = 0; i < value.length;) {
    let best: { unit: string; count: number } | undefined
    for (let size = 1; size <= 24 && i + size <= value.length; size++) {
      const unit = value.slice(i, i + size)
      let count = 1
      while (value.startsWith(unit, i + count * size)) count++
      if (count * size >= 64 && (!best || count * size > best.count * best.unit.length)) best = { unit, count }
    }
    if (best) {
      if (plain) parts.push(JSON.stringify(plain))
      plain = ""
      parts.push(`${JSON.stringify(best.unit)}.repeat(${best.count})`)
      i += best.count * best.unit.length
    } else plain += value[i++]
  }
  if (plain || parts.length === 0) parts.push(JSON.stringify(plain))
  return parts.join(" + ")
}

/** Which request an unhandled-error log line belongs to: in-process requests carry their id across awaits. */
const requestScope = new AsyncLocalStorage<number>()

/**
 * Sends `requests` generated requests from `workers` concurrent fast-check runs, each with its own seed, so the
 * requests sent are the same every run. The sweep records each failure's first occurrence by signature; afterwards,
 * alone (so a blocked loop is the request's own doing), each is replayed from its seed and path and shrunk.
 */
export const runFuzz = async (options: FuzzOptions): Promise<FuzzResult> => {
  const { gateways, runtime, reach } = options.targets
  const targetNames = (Object.keys(gateways) as Array<Target>).filter((name) => gateways[name] !== undefined)
  const scenarios = fuzzScenario(targetNames, reach)
  const findings: Array<Finding> = []
  const statusCounts: Record<string, number> = {}
  const transportCounts: Record<string, number> = {}
  let requests = 0
  let sweepRequests = 0
  let shrinkRequests = 0
  let nextRequestId = 0
  const started = performance.now()
  const timeLeft = () => options.timeLimitMs - (performance.now() - started)
  const exitOf = (target: Target) => {
    const exit = gateways[target]!.process?.exited()
    return exit && `process-level error: the ${target} gateway's process exited (${exit})`
  }
  // A gateway's process gone: the requests after it would all fail the same way, and shrinking needs it alive.
  const anyExited = () => targetNames.some((target) => exitOf(target) !== undefined)
  /** What was in flight to each gateway whose process exited, when it did: one of them is likely the cause. */
  const inFlightAtExit = new Map<Target, Scenario>()

  // The gateway logs a defect that reached Hono's onError ("unhandled error: <stack>") through its log: keep those
  // lines, by request (a gateway in another process writes them to its output: matched by time).
  const logs: Array<{ readonly at: number; readonly requestId: number | undefined; readonly line: string }> = []
  for (const gateway of Object.values(gateways)) {
    gateway.onLog((line) => {
      const defect = line.indexOf("unhandled error: ")
      const requestId = gateway.fetch === undefined ? undefined : requestScope.getStore()
      if (defect >= 0) logs.push({ at: performance.now(), requestId, line: line.slice(defect) })
    })
  }
  const inFlight = new Map<number, FuzzRequest>()
  for (const target of targetNames) {
    gateways[target]!.process?.onExit(() =>
      inFlightAtExit.set(target, [...inFlight.values()].filter((request) => request.target === target))
    )
  }
  const crashes: Array<string> = []
  const onCrash = (error: unknown) => crashes.push(describeError(error))
  process.on("uncaughtException", onCrash)
  process.on("unhandledRejection", onCrash)
  const eventLoop = reach.inProcess
    ? watchEventLoop(() => [...inFlight.values()].map(summary))
    : watchFromOutside(
      gateways,
      (target) => [...inFlight.values()].filter((request) => request.target === target).map(summary)
    )

  /** Sends one request and says what is wrong with it, with the gateway's log line for it. */
  const exchange = async (request: FuzzRequest) => {
    const id = nextRequestId++
    const gateway = gateways[request.target]!
    const from = performance.now()
    const crashesBefore = crashes.length
    inFlight.set(id, request)
    const observed = await requestScope.run(
      id,
      () =>
        request.transport === "socket" || gateway.fetch === undefined
          ? sendOverSocket(gateway.url, request)
          : sendInProcess(gateway.fetch, request)
    )
    const to = performance.now()
    // A process that died is reaped a moment after its sockets close: the request stays in flight until then.
    if (observed.status === 0 && gateway.process) await sleep(200)
    inFlight.delete(id)
    const exit = exitOf(request.target)
    const stall = await eventLoop.stallDuring(request.target, from, to)
    const log = logs.find((entry) => entry.requestId === id) ??
      (request.transport === "socket"
        ? logs.find((entry) => entry.requestId === undefined && entry.at >= from && entry.at <= to)
        : undefined)
    const problem = crashes.length > crashesBefore
      ? `process-level error: ${crashes[crashesBefore]!.split("\n")[0]}`
      : exit !== undefined
      ? exit
      : checkResponse(request, observed) ?? (stall ? "event loop blocked over 1 s" : undefined)
    // Only a 500 or a lost response comes with a log line of its own; a 4xx is never the cause of one.
    const logged = exit !== undefined
      ? gateway.process!.output().slice(-2_000)
      : observed.status === 500 || observed.status === 0
      ? log?.line ?? ""
      : ""
    return { observed, problem, log: logged }
  }

  const signatureOf = (request: FuzzRequest, problem: string, log: string) => {
    // One exit is one finding, whichever request saw it first.
    if (targetNames.some((target) => problem === exitOf(target))) return problem
    // The first line of a logged stack and its first frame in the gateway's code tell two 500s apart.
    const lines = log.replace(/^unhandled error: /, "").split("\n")
    const frame = lines.find((line) => line.includes("/core/"))?.replace(/.*\/core\//, "core/").replace(/\)$/, "")
    const where = routeOf(request)
    const cause = lines[0] ? ` — ${lines[0].slice(0, 160)}${frame ? ` at ${frame}` : ""}` : ""
    return `${where}: ${problem}${cause}`
  }

  const count = (tally: Record<string, number>, key: string) => (tally[key] = (tally[key] ?? 0) + 1)
  const firstFailures = new Map<string, { seed: number; path: string; scenario: Scenario; log: string }>()
  const occurrences: Record<string, number> = {}

  const sweep = async (worker: number, runs: number) => {
    const seed = options.seed + worker * 1_000
    let run = 0
    const property = fc.asyncProperty(scenarios, async (scenario) => {
      const path = String(run++)
      if (timeLeft() <= 0 || anyExited()) return
      for (const request of scenario) {
        const result = await exchange(request)
        requests++
        count(statusCounts, result.observed.status === 0 ? "no response" : String(result.observed.status))
        count(transportCounts, request.transport)
        if (result.problem === undefined) continue
        const signature = signatureOf(request, result.problem, result.log)
        count(occurrences, signature)
        if (!firstFailures.has(signature)) {
          firstFailures.set(signature, { seed, path, scenario, log: result.log })
          options.onProgress?.(`found: ${signature}`)
        }
      }
    })
    await fc.check(property, { seed, numRuns: runs })
  }

  /** Replays a failure's run from its seed and path, alone, and shrinks it for at most SHRINK_BUDGET_MS. */
  const shrink = async (signature: string, first: { seed: number; path: string; scenario: Scenario; log: string }) => {
    if (anyExited()) {
      // Nothing to replay against: the failing scenario as it was sent (for an exit, every request in flight then),
      // with the process's last output.
      const exited = targetNames.find((target) => signature === exitOf(target))
      const scenario = (exited && inFlightAtExit.get(exited)) || first.scenario
      findings.push({
        signature,
        reproducer: reproducer(scenario, runtime),
        log: first.log.split("\n").slice(-12).join("\n"),
        occurrences: occurrences[signature] ?? 1,
        reproduced: false
      })
      return
    }
    const until = performance.now() + SHRINK_BUDGET_MS
    let log = first.log
    const property = fc.asyncProperty(scenarios, async (scenario) => {
      // Out of time: every further candidate passes, so the smallest failure so far is the one reported.
      if (performance.now() > until) return
      for (const request of scenario) {
        const result = await exchange(request)
        shrinkRequests++
        if (result.problem !== undefined && signatureOf(request, result.problem, result.log) === signature) {
          log = result.log || log
          throw new Error(signature)
        }
      }
    })
    const details = await fc.check(property, { seed: first.seed, path: first.path })
    const reproduced = details.failed && details.counterexample !== null
    // A request that was only in flight while another one blocked the loop: the culprit has its own finding.
    if (!reproduced && signature.includes("event loop blocked")) return
    findings.push({
      signature,
      reproducer: reproducer(reproduced ? details.counterexample![0] : first.scenario, runtime),
      log: log.split("\n").slice(0, 6).join("\n"),
      occurrences: occurrences[signature] ?? 1,
      reproduced
    })
    options.onProgress?.(`shrunk: ${signature}${reproduced ? "" : " (did not fail again alone)"}`)
  }

  try {
    const progress = setInterval(
      () => options.onProgress?.(`${requests} requests, ${firstFailures.size} distinct failures`),
      10_000
    )
    // Scenarios are one request or two (1.25 on average); a last run tops the count up.
    const perWorker = Math.ceil(options.requests / options.workers / 1.25)
    await Promise.all(Array.from({ length: options.workers }, (_, worker) => sweep(worker, perWorker)))
    for (let extra = options.workers; requests < options.requests && timeLeft() > 0 && !anyExited(); extra++) {
      await sweep(extra, Math.ceil((options.requests - requests) / 1.25))
    }
    sweepRequests = requests
    for (const signature of [...firstFailures.keys()].sort()) await shrink(signature, firstFailures.get(signature)!)
    clearInterval(progress)
  } finally {
    await eventLoop.stop()
    process.off("uncaughtException", onCrash)
    process.off("unhandledRejection", onCrash)
  }
  return {
    seed: options.seed,
    requests: sweepRequests,
    shrinkRequests,
    elapsedMs: Math.round(performance.now() - started),
    statusCounts,
    transportCounts,
    findings,
    starved: eventLoop.starved,
    stalls: eventLoop.stalls.map((stall) => ({
      atMs: Math.round(stall.from - started),
      blockedMs: Math.round(stall.to - stall.from),
      ...(stall.target ? { target: stall.target } : {}),
      inFlight: stall.inFlight
    }))
  }
}

// ---- the suite, run by test/reliability/fuzz.test.ts (Node) and fuzz.e2e.ts (Bun and Deno) ----

export const FUZZ_SEED = 20261128

export interface FuzzRun {
  readonly runtime: RuntimeName
  readonly requests: number
  readonly timeLimitMs: number
}

const listed = (findings: ReadonlyArray<Finding>) =>
  findings.map((finding) =>
    `\n\n${finding.signature} (${finding.occurrences}×${
      finding.reproduced ? "" : ", did not fail again when re-run alone"
    })\n` +
    `${finding.reproducer}${finding.log ? `\n${finding.log}` : ""}`
  ).join("")

/**
 * One fuzz run as a suite: the gateways of `runtime` started, `requests` sent (at most `timeLimitMs`), then every
 * check a test of its own. `semantic`: L1b's backends for Node; elsewhere it only says to start that gateway.
 */
export const describeFuzzRun = (
  { runtime, requests, timeLimitMs }: FuzzRun,
  semantic: SemanticBackends
) => {
  const servedBy = runtime === "node" ? "" : ` on ${runtime}'s own server`
  describe(`reliability: ${requests.toLocaleString("en")} generated requests on every route${servedBy}`, () => {
    let targets: FuzzTargets
    let result: FuzzResult
    let healthz: Awaited<ReturnType<ReturnType<typeof probeHealthz>["stop"]>>

    before(async () => {
      targets = await startFuzzTargets({ runtime, semantic })
      const probe = probeHealthz(targets.gateways.open!.url)
      result = await runFuzz({ seed: FUZZ_SEED, requests, workers: 6, targets, timeLimitMs })
      healthz = await probe.stop()
      const { findings, stalls, starved, ...figures } = result
      const blockedMs = Math.max(0, ...stalls.map((stall) => stall.blockedMs))
      const { slow, ...latency } = healthz
      console.log(JSON.stringify({
        runtime,
        ...figures,
        distinctFailures: findings.length,
        stalls: stalls.length,
        longestStallMs: blockedMs,
        starvedGaps: starved.length,
        healthz: { ...latency, over1s: slow.length }
      }))
    }, { timeout: timeLimitMs + 80_000 })
    after(() => targets?.close())

    const findingsWhere = (test: (signature: string) => boolean) =>
      result.findings.filter((finding) => test(finding.signature))

    it("sends them all", () => {
      assert.ok(result.requests >= requests, `only ${result.requests} requests were sent in the time limit`)
      if (runtime === "node") {
        assert.ok(
          (result.transportCounts.socket ?? 0) > requests / 20,
          "a share of the requests goes over real sockets"
        )
      } else assert.deepEqual(Object.keys(result.transportCounts), ["socket"], "every request goes over a socket")
    })

    it("answers every request, never with a 500, and nothing escapes as an uncaught error", () => {
      const failures = findingsWhere((signature) => /status 500|no response|process-level/.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })

    it("writes every error as JSON in the client's format (Anthropic's on /v1/messages, OpenAI's elsewhere)", () => {
      const failures = findingsWhere((signature) => /error body|body is not JSON/.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })

    it("ends every stream the way the client's SDK expects, with no error event", () => {
      const failures = findingsWhere((signature) => /stream/.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })

    it("keeps /healthz answering within 1 s throughout, and the event loop never blocked over 1 s", () => {
      const blocked = findingsWhere((signature) => /event loop blocked/.test(signature))
      const stalls = result.stalls.slice(0, 5).map((stall) =>
        `\n\nblocked ${stall.blockedMs} ms at ${stall.atMs} ms${
          stall.target ? ` (the ${stall.target} gateway)` : ""
        }, in flight:\n${stall.inFlight.join("\n")}`
      )
      assert.deepEqual(healthz.failures, [])
      assert.ok(healthz.count > 0)
      // A probe slowed only while the machine's cores were busy elsewhere (the gateway hardly ran) is not the gateway's.
      const slowProbes = healthz.slow.filter((probe) =>
        !result.starved.some((gap) => gap.from <= probe.to && gap.to >= probe.from)
      )
      assert.deepEqual(
        slowProbes.length,
        0,
        `/healthz took ${healthz.max} ms (p99 ${healthz.p99} ms)${stalls.join("")}${listed(blocked)}`
      )
      assert.deepEqual(stalls, [], stalls.join("") + listed(blocked))
    })

    it("finds nothing else", () => {
      const known = /status 500|no response|process-level|error body|body is not JSON|stream|event loop blocked/
      const failures = findingsWhere((signature) => !known.test(signature))
      assert.deepEqual(failures.map((finding) => finding.signature), [], listed(failures))
    })
  })
}
