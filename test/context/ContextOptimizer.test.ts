import { Effect, Exit } from "effect"
import { countTokens } from "gpt-tokenizer/encoding/o200k_base"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { contextOptimizer, optimiseBody } from "../../core/context/ContextOptimizer.ts"
import type { ChatRequest } from "../../core/domain/ChatRequest.ts"
import { fromAnthropicBody } from "../../core/formats/anthropic/messagesBody.ts"
import { fromResponsesRequest } from "../../core/formats/responses/request.ts"
import { forOrigin, type PassThroughOrigin } from "../../core/providers/passThrough/PassThrough.ts"
import { claudeCodeSession, codexSession, PROJECT_INSTRUCTIONS } from "./sessions.ts"

type Json = Record<string, unknown>
const count = (text: string) => countTokens(text, { disallowedSpecial: new Set() })
const context = { defaultModel: "m", tenant: "t", cacheRead: true, cacheWrite: true }

const canonicalOfAnthropic = (body: Json): Json => {
  const decoded = fromAnthropicBody(body, context)
  assert.ok(Exit.isSuccess(decoded))
  return decoded.value.body as Json
}

/** The body up to and including its last `cache_control` breakpoint, as the bytes the provider's cache keys on. */
const cachedPrefix = (body: Json): string => {
  const messages = body.messages as Array<{ content: unknown }>
  let last = -1
  messages.forEach((message, index) => {
    if (JSON.stringify(message.content).includes("\"cache_control\"")) last = index
  })
  return JSON.stringify([body.tools, body.system, messages.slice(0, last + 1)])
}

describe("context optimiser on the recorded Claude Code session", () => {
  it("changes nothing when Claude Code marks its last turn: all of it is in the prompt cache's prefix", () => {
    for (const body of claudeCodeSession(6)) {
      const optimised = optimiseBody("anthropic", body, count)
      assert.equal(optimised.body, body)
      assert.equal(optimised.saved, 0)
    }
  })

  it("references repeated reminders after the last breakpoint, the cached prefix byte for byte the same", () => {
    const session = claudeCodeSession(6, "recorded")
    const saved = session.map((body) => {
      const optimised = optimiseBody("anthropic", body, count)
      assert.equal(cachedPrefix(optimised.body), cachedPrefix(body))
      return optimised.saved
    })
    assert.deepEqual(saved.slice(0, 2), [0, 0])
    for (let turn = 2; turn < saved.length; turn++) assert.ok(saved[turn]! > saved[turn - 1]!, `turn ${turn + 1}`)
    const last = optimiseBody("anthropic", session[5]!, count).body
    const text = JSON.stringify((last.messages as Array<Json>).at(-1))
    assert.match(text, /Unchanged: the same text as the earlier <system-reminder> block above that begins \\"Whenever/)
    assert.doesNotMatch(text, /MUST refuse to improve/)
  })

  it("through an OpenAI-format upstream: the system message stays, CLAUDE.md shrinks, repeats become references", () => {
    const bodies = claudeCodeSession(6).map(canonicalOfAnthropic)
    const results = bodies.map((body) => optimiseBody("openai", body, count))
    for (const [turn, { body }] of results.entries()) {
      const messages = body.messages as Array<Json>
      const original = bodies[turn]!.messages as Array<Json>
      assert.deepEqual(messages[0], original[0], "the leading system message is the cached prefix")
    }
    for (let turn = 1; turn < results.length; turn++) {
      const before = results[turn - 1]!.body.messages as Array<Json>
      const now = results[turn]!.body.messages as Array<Json>
      assert.deepEqual(now.slice(0, before.length), before, `turn ${turn + 1} starts with turn ${turn} as sent`)
    }
    assert.ok(results[0]!.saved > 0, "CLAUDE.md's comments and blank-line runs are gone")
    assert.ok(results[5]!.saved > results[1]!.saved)
    const firstTurn = JSON.stringify((results[0]!.body.messages as Array<Json>)[1])
    assert.doesNotMatch(firstTurn, /Keep this file short/)
    assert.match(firstTurn, /--test {3}test\/http\/app\.test\.ts/, "a code fence keeps its bytes")
  })
})

describe("context optimiser on the recorded Codex session", () => {
  const sessions = {
    responses: codexSession(6),
    openai: codexSession(6).map((body) => fromResponsesRequest(body, []).body)
  }
  for (const [format, bodies] of Object.entries(sessions) as Array<["responses" | "openai", Array<Json>]>) {
    const field = format === "responses" ? "input" : "messages"
    it(`${format}: saves more each turn, keeps the developer prefix, and each turn is the next one's prefix`, () => {
      const results = bodies.map((body) => optimiseBody(format, body, count))
      for (let turn = 1; turn < results.length; turn++) assert.ok(results[turn]!.saved > results[turn - 1]!.saved)
      for (const [turn, { body }] of results.entries()) {
        const items = body[field] as Array<Json>
        const original = bodies[turn]![field] as Array<Json>
        const developer = original.findIndex((item) => item.role !== "developer" && item.role !== "system")
        assert.deepEqual(items.slice(0, developer), original.slice(0, developer))
        if (turn > 0) {
          const before = results[turn - 1]!.body[field] as Array<Json>
          // OpenAI's automatic prompt cache matches the longest prefix it has seen: the last request's, as sent.
          assert.deepEqual(items.slice(0, before.length), before)
        }
      }
    })
  }
})

describe("what the context optimiser leaves alone", () => {
  const user = (...texts: Array<string>): Json => ({
    messages: [
      { role: "system", content: "You are a coding agent." },
      ...texts.map((content) => ({ role: "user", content }))
    ]
  })
  const block = `<system-reminder>\n${PROJECT_INSTRUCTIONS}</system-reminder>`

  it("a reminder quoted in a code fence is text, not an instruction", () => {
    // Four backticks: the quoted text has fences of three inside (which would close a fence of three).
    const quoted = `What does this do?\n\n\`\`\`\`\n${block}\n${block}\n\`\`\`\`\n`
    const body = user(block, quoted)
    const optimised = optimiseBody("openai", body, count)
    assert.equal((optimised.body.messages as Array<Json>)[2]!.content, quoted)
  })

  it("a block that changed is sent whole, only its whitespace and comments shrunk", () => {
    const changed = block.replace("the cache team", "the storage team")
    const optimised = optimiseBody("openai", user(block, changed), count)
    const second = String((optimised.body.messages as Array<Json>)[2]!.content)
    assert.match(second, /the storage team/)
    assert.doesNotMatch(second, /Unchanged/)
    assert.doesNotMatch(second, /<!--/)
    assert.doesNotMatch(second, /\n\n\n/)
    assert.doesNotMatch(second, /[ \t]\n/)
  })

  /** What the provider gets of a block that is shrunk (sent in a later turn after the project instructions). */
  const shrunkBlock = (inner: string): string => {
    const optimised = optimiseBody("openai", user(block, `<system-reminder>\n${inner}</system-reminder>`), count)
    return String((optimised.body.messages as Array<Json>)[2]!.content)
  }

  it("inline code and indented code blocks in a block are sent byte for byte", () => {
    const inline = "`grep  -n '<!-- marker -->'  notes.md`"
    const indented = "    sed -i 's/  / /g'  file.txt  <!-- kept -->  "
    const sent = shrunkBlock(`Run ${inline}   first.  <!-- dropped -->\n\n${indented}\n\nThen   commit.   \n`)
    assert.ok(sent.includes(inline), sent)
    assert.ok(sent.includes(`\n${indented}\n`), sent)
    assert.ok(!sent.includes("dropped"), "a comment in prose still goes")
    assert.ok(sent.includes("Then commit.\n"), "prose around the code still shrinks")
  })

  it("a fence line with an info string does not close a fence: the bytes inside stay", () => {
    const fenced = "```md\nExample:   <!-- shown as is -->\n```js\nconst a  =  1   \n```\n"
    const sent = shrunkBlock(`Look:\n\n${fenced}after   this\n`)
    assert.ok(sent.includes(fenced), sent)
    assert.ok(sent.includes("after this\n"), sent)
  })

  it("a reference quotes the beginning of the first copy as it was sent (unchanged in the cached prefix)", () => {
    const inner = `\n<!-- generated: do not edit -->\n${PROJECT_INSTRUCTIONS}`
    const text = `<system-reminder>${inner}</system-reminder>`
    const body: Json = {
      model: "claude-sonnet-4-5",
      max_tokens: 100,
      messages: [
        { role: "user", content: [{ type: "text", text, cache_control: { type: "ephemeral" } }] },
        { role: "assistant", content: "ok" },
        { role: "user", content: [{ type: "text", text }] }
      ]
    }
    const optimised = optimiseBody("anthropic", body, count)
    const messages = optimised.body.messages as Array<{ content: Array<Json> }>
    assert.equal(messages[0]!.content[0]!.text, text, "the cached first copy is sent as written")
    assert.match(String(messages[2]!.content[0]!.text), /begins "<!-- generated: do not edit --> # Project/)
  })

  it("Gemini: the system instruction stays, a repeated block in contents becomes a reference, thoughts stay", () => {
    const thought = { text: block, thought: true, thoughtSignature: "sig" }
    const body: Json = {
      systemInstruction: { parts: [{ text: block }] },
      contents: [
        { role: "user", parts: [{ text: "first question" }] },
        { role: "model", parts: [thought, { text: "an answer" }] },
        { role: "user", parts: [{ text: block }, { text: "second question" }] }
      ]
    }
    const optimised = optimiseBody("gemini", body, count)
    assert.deepEqual(optimised.body.systemInstruction, body.systemInstruction)
    const contents = optimised.body.contents as Array<{ parts: Array<Json> }>
    assert.deepEqual(contents[1]!.parts[0], thought)
    assert.match(String(contents[2]!.parts[0]!.text), /^<system-reminder>\n\(Unchanged: /)
    assert.ok(optimised.saved > 0)
  })

  it("text outside instruction blocks, and a body with none, pass as they are", () => {
    const body = user("  hello   world  \n\n\n\n<!-- not an instruction -->")
    const optimised = optimiseBody("openai", body, count)
    assert.equal(optimised.body, body)
    assert.equal(optimised.saved, 0)
  })
})

describe("the saving the optimiser reports", () => {
  const block = `<system-reminder>\n${PROJECT_INSTRUCTIONS}</system-reminder>`
  const request = {
    model: "gpt-4o-mini",
    stream: false,
    body: { model: "gpt-4o-mini", messages: [{ role: "user", content: block }, { role: "user", content: block }] },
    messages: [{ role: "user", content: block }, { role: "user", content: block }]
  } as unknown as ChatRequest
  /** The optimiser over a chain starting at an OpenAI-format provider, answered by `answeredBy`. */
  const answer = (answeredBy: string) => {
    let received: ChatRequest | undefined
    const call = (sent: ChatRequest) => Effect.sync(() => ((received = sent), { provider: answeredBy }))
    const send = contextOptimizer(true, { chain: ["openai", "anthropic"], stream: call, complete: call })
    return { send, received: () => received }
  }

  it("is said when the provider that answered got the shrunk body", async () => {
    const { send, received } = answer("openai")
    const answered = await Effect.runPromise(send.complete(request))
    assert.ok(answered.contextSaved! > 0)
    assert.notDeepEqual(received()!.messages, request.messages)
  })

  it("is not said when a failover of another format answered", async () => {
    const { send } = answer("anthropic")
    const answered = await Effect.runPromise(send.complete(request))
    assert.equal(answered.contextSaved, undefined)
  })

  it("is not said, and nothing is shrunk, for `isartor proxy`'s pass-through (the client's own bytes are sent)", async () => {
    const { send, received } = answer("openai")
    const origin = { host: "api.openai.com" } as unknown as PassThroughOrigin
    const answered = await Effect.runPromise(forOrigin(origin, send.complete(request)))
    assert.equal(answered.contextSaved, undefined)
    assert.equal(received(), request)
  })
})
