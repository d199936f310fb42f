// Every analysis that runs on request text is linear: adversarial strings (long runs that make a backtracking
// regex retry from each position) of 64 KB and then 1 MB are analysed within a second each — a quadratic scan
// takes seconds at 64 KB (so it fails there instead of hanging for hours at 1 MB), a linear one milliseconds. And
// a real gateway keeps answering /healthz while it verifies four 40 KB prompts against cached look-alikes.
import { Redacted } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import {
  analyse,
  analyseText,
  identifiersOf,
  MAX_VERIFIED_CHARS,
  properNamesOf,
  verify
} from "../../core/cache/semantic/SemanticVerifier.ts"
import type { AppConfigShape } from "../../core/config/ConfigSpec.ts"
import {
  fromAnthropicBody,
  fromNativeBody,
  fromOpenAIBody,
  parseJsonBody,
  type RequestContext
} from "../../core/domain/ChatRequest.ts"
import { toAnthropicRequest } from "../../core/formats/anthropic/request.ts"
import { toGeminiRequest } from "../../core/formats/gemini.ts"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { presentedCredentials, presentedGatewayKey } from "../../core/http/middleware.ts"
import { scrub } from "../../core/providers/shared/http.ts"
import { parseTier } from "../../core/router/Classifier.ts"
import { guardVerdict } from "../../core/router/Router.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadEmbedderInWorker } from "../../runtimes/embedding/inWorker.ts"
import { startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { startTestGateway, upstreamEnv } from "../support/gateway.ts"

/** `unit` repeated to `size` characters, between `head` and `tail`. */
const fill = (size: number, unit: string, head = "", tail = "") =>
  head + unit.repeat(Math.max(0, Math.floor((size - head.length - tail.length) / unit.length))) + tail

/** Strings that make a backtracking scan retry from each position of one long run. */
const adversarial: Record<string, (size: number) => string> = {
  "a run of letters, then !": (size) => fill(size, "a", "", "!"),
  "letters and dots": (size) => fill(size, "a.", "", "!"),
  "a letter, then dots": (size) => fill(size, ".", "a"),
  "digits and dots, then a call": (size) => fill(size, ".1", "1", "a()"),
  "underscored names and dots, then a call": (size) => fill(size, "1a_a.", "", "()"),
  "many spaces": (size) => fill(size, " ", "a", "x"),
  "many capitals": (size) => fill(size, "A", "", "!"),
  "one CamelCase word": (size) => fill(size, "Aa", "", "1"),
  "a proper name ending in dots": (size) => fill(size, ".", "in Seattle", "x"),
  "dashes after a capital": (size) => fill(size, ".-", "go To"),
  "nested quotes": (size) => fill(size, "`\"'“(["),
  "an unclosed backtick": (size) => fill(size, "a", "`"),
  "apostrophes": (size) => fill(size, "n'"),
  "key-shaped runs": (size) => fill(size, "sk-"),
  "a data URL without base64": (size) => fill(size, "a", "data:", ";base6"),
  "bracketed quotes": (size) => fill(size, "[\""),
  "backslashes and quotes": (size) => fill(size, "\\\"", "\"")
}

const context: RequestContext = { defaultModel: "gpt-4o-mini", tenant: "t", cacheRead: true, cacheWrite: true }
const guard = {
  min_answer_chars: 10,
  guard_phrases: ["I'm not sure", "I don't know"]
} as unknown as AppConfigShape["layer2"]
// Any text at all (a real Headers refuses characters over 255, which a server never hands over anyway).
const headersOf = (headers: Record<string, string>) => ({ get: (name: string) => headers[name] ?? null })
const userParts = (...content: Array<unknown>) => ({ messages: [{ role: "user", content }] })

/** Each function that reads request text, as the gateway calls it. */
const analyses: Record<string, (text: string) => unknown> = {
  "verifier: identifiersOf": identifiersOf,
  "verifier: properNamesOf": properNamesOf,
  "verifier: every regex of the analysis, uncapped": analyseText,
  "verifier: analyse (capped)": analyse,
  "verifier: names looked up in a text": (text) => analyseText(text.slice(0, 65_536)).phrases(64),
  "router: quality guard": (text) => guardVerdict(text, guard),
  "classifier: parseTier": (text) => parseTier(text, "tiered"),
  "providers: scrub": (text) => scrub(text, Redacted.make("sk-test-0123456789abcdef")),
  "requests: parseJsonBody of the text": parseJsonBody,
  "requests: parseJsonBody of a body quoting it": (text) => parseJsonBody(JSON.stringify({ prompt: text })),
  "requests: OpenAI body": (text) => fromOpenAIBody(userParts({ type: "text", text }), context),
  "requests: a wrong role, described": (text) => fromOpenAIBody({ messages: [{ role: text, content: "x" }] }, context),
  "requests: Anthropic body": (text) =>
    fromAnthropicBody({ model: text, max_tokens: 5, ...userParts({ type: "text", text }) }, context),
  "requests: native body": (text) => fromNativeBody({ prompt: text }, context),
  "formats: an image URL to Anthropic": (text) =>
    toAnthropicRequest(userParts({ type: "image_url", image_url: { url: text } }), { model: "m", stream: false }),
  "formats: an image URL to Gemini": (text) =>
    toGeminiRequest(userParts({ type: "image_url", image_url: { url: text } })),
  "http: credential headers": (text) => {
    const headers = headersOf({ authorization: `Bearer ${text}`, "api-key": text })
    return [presentedCredentials(headers), presentedGatewayKey(headers)]
  }
}

const msSince = (started: number) => performance.now() - started

describe("text analyses are linear in what they read", () => {
  for (const [name, analysis] of Object.entries(analyses)) {
    it(name, () => {
      for (const [shape, make] of Object.entries(adversarial)) {
        for (const size of [64 * 1024, 1024 * 1024]) {
          const text = make(size)
          const started = performance.now()
          analysis(text)
          const ms = msSince(started)
          assert.ok(ms < 1000, `${name}, ${size} characters of ${shape}: ${ms.toFixed(0)} ms`)
        }
      }
    })
  }
})

describe("the verifier", () => {
  it("accepts no text longer than it reads, at once", () => {
    const long = `${"How do I reset my password? ".repeat(100)}Thanks.`
    assert.ok(long.length > MAX_VERIFIED_CHARS)
    const started = performance.now()
    const verdict = verify(long, long, 1)
    assert.ok(msSince(started) < 50)
    assert.deepEqual(verdict, { accept: false, reason: `longer than ${MAX_VERIFIED_CHARS} characters` })
    assert.equal(verify("How do I reset my password?", "How can I reset my password?", 0.95).accept, true)
  })

  it("checks a lookup's worth of candidates at the length cap within a second, whatever their shape", () => {
    for (const [shape, make] of Object.entries(adversarial)) {
      // A long name defeats the shortcut that stops a run at the longest name looked for.
      const text = `long_${"q".repeat(60)} ${make(MAX_VERIFIED_CHARS)}`.slice(0, MAX_VERIFIED_CHARS)
      const other = `${text.slice(0, -1)}z`
      const started = performance.now()
      const question = analyse(text)
      for (let candidate = 0; candidate < 16; candidate++) verify(question, other, 0.99)
      const ms = msSince(started)
      assert.ok(ms < 1000, `${shape}: ${ms.toFixed(0)} ms`)
    }
  })
})

describe("a gateway under long prompts", () => {
  it("answers /healthz while it verifies four 40 KB prompts against look-alikes", { timeout: 120_000 }, async () => {
    const upstream = await startFakeOpenAI()
    let worker: { dispose?: () => Promise<void> } | undefined
    const backends: SemanticBackends = {
      loadEmbedder: async (
        choice
      ) => (worker = await loadEmbedderInWorker(new URL("../../runtimes/embedding/worker-node.mjs", import.meta.url), {
        ...choice,
        cacheDir: ""
      })),
      loadHnswlib
    }
    // The fast stage off: its table is built at start-up, and L1b's model stage is what reads these prompts.
    const env = upstreamEnv(upstream.url, { ISARTOR__SEMANTIC_FAST_THRESHOLD: "1" })
    const gateway = await startTestGateway(env, {}, backends)
    try {
      const ask = async (prompt: string) => {
        const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
        await response.arrayBuffer()
        return response.status
      }
      // The embedder reads the first 2,048 characters: each prompt has a cached look-alike at similarity 1, so the
      // verifier reads both whole.
      const shapes = ["a run of letters, then !", "letters and dots", "underscored names and dots, then a call"]
      shapes.push("many capitals")
      const prompts = shapes.map((shape) => adversarial[shape]!(40_000))
      for (const prompt of prompts) assert.equal(await ask(`${prompt} first`), 200)
      const answers = Promise.all(prompts.map((prompt) => ask(`${prompt} second`)))
      let done = false
      void answers.finally(() => (done = true))
      const waits: Array<number> = []
      while (!done) {
        const started = performance.now()
        const healthz = await fetch(`${gateway.url}/healthz`)
        assert.equal(healthz.status, 200)
        await healthz.arrayBuffer()
        waits.push(msSince(started))
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
      assert.deepEqual(await answers, [200, 200, 200, 200])
      assert.ok(waits.length > 0)
      assert.ok(Math.max(...waits) < 1000, `/healthz waited ${Math.max(...waits).toFixed(0)} ms`)
    } finally {
      await gateway.close()
      await worker?.dispose?.()
      await upstream.close()
    }
  })
})
