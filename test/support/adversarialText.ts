// The text every analysis of request text is tried on, shared by test/reliability/regex.test.ts (what each returns)
// and bench/regex.ts (how long each takes, against its budget).
import { Redacted } from "effect"
import { analyse, analyseText, identifiersOf, properNamesOf } from "../../core/cache/semantic/SemanticVerifier.ts"
import type { AppConfigShape } from "../../core/config/ConfigSpec.ts"
import { fromNativeBody, fromOpenAIBody, parseJsonBody, type RequestContext } from "../../core/domain/ChatRequest.ts"
import { fromAnthropicBody } from "../../core/formats/anthropic/messagesBody.ts"
import { toAnthropicRequest } from "../../core/formats/anthropic/request.ts"
import { toGeminiRequest } from "../../core/formats/gemini.ts"
import { presentedCredentials, presentedGatewayKey } from "../../core/http/middleware.ts"
import { parseTier } from "../../core/router/Classifier.ts"
import { guardVerdict } from "../../core/router/Router.ts"
import { scrub } from "../../core/transport/http.ts"

/** `unit` repeated to `size` characters, between `head` and `tail`. */
const fill = (size: number, unit: string, head = "", tail = "") =>
  head + unit.repeat(Math.max(0, Math.floor((size - head.length - tail.length) / unit.length))) + tail

/** Strings that make a backtracking scan retry from each position of one long run. */
export const adversarial: Record<string, (size: number) => string> = {
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
export const analyses: Record<string, (text: string) => unknown> = {
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
