import { Context, Effect, Layer, Redacted } from "effect"
import type { ChatRequest } from "./ChatRequest.ts"
import { type Completion, firstText } from "./Completion.ts"
import { AppConfig } from "./Config.ts"
import type { AppConfigShape } from "./ConfigSpec.ts"
import { LayerUnavailable, type ProviderError, RouterDeclined } from "./errors.ts"
import { serverChatEndpoint } from "./providers/shared/openaiCompatible.ts"
import { makeTransport } from "./providers/shared/http.ts"

export type Tier = "TEMPLATE" | "SNIPPET" | "SIMPLE" | "COMPLEX"

export interface RoutedAnswer {
  readonly completion: Completion
  readonly tier: Tier
}

const TIERED_PROMPT =
  "Classify the user's request for a code assistant. Reply with exactly one word:\n" +
  "TEMPLATE - config files, type definitions, documentation, boilerplate;\n" +
  "SNIPPET - one short function, simple middleware, under 50 lines;\n" +
  "COMPLEX - multi-file implementations, test suites, full endpoints, anything else."
const BINARY_PROMPT =
  "Classify the user's request. Reply with exactly one word:\n" +
  "SIMPLE - a short factual answer, a template or a small snippet a small model can write well;\n" +
  "COMPLEX - anything that needs deep reasoning, long code or several steps."

/** Reads the tier from a small model's reply, whatever its case, punctuation or extra words; unsure means COMPLEX. */
export const parseTier = (reply: string, mode: "tiered" | "binary"): Tier => {
  const words = reply.toUpperCase().match(/[A-Z]+/g) ?? []
  const allowed: ReadonlyArray<Tier> = mode === "tiered" ? ["TEMPLATE", "SNIPPET", "COMPLEX"] : ["SIMPLE", "COMPLEX"]
  return (words.find((word) => allowed.includes(word as Tier)) as Tier | undefined) ?? "COMPLEX"
}

/** The quality guard: a local answer that is too short or opens with doubt is not worth serving. */
export const guardVerdict = (answer: string, config: AppConfigShape["layer2"]): string | undefined => {
  const text = answer.trim().replace(/^["'“”*\s]+/, "")
  if (text.length < config.min_answer_chars) return `answer shorter than ${config.min_answer_chars} characters`
  const opening = text.toLowerCase().replace(/’/g, "'")
  const phrase = config.guard_phrases.split(",").map((p) => p.trim()).find((p) => p !== "" && opening.startsWith(p.toLowerCase().replace(/’/g, "'")))
  return phrase === undefined ? undefined : `answer opens with "${phrase}"`
}

const lastUserText = (request: ChatRequest): string | undefined => {
  const messages = request.body.messages as Array<{ role: string; content?: unknown }>
  const last = messages[messages.length - 1]
  return last?.role === "user" && typeof last.content === "string" ? last.content : undefined
}

/** Whether L2 runs at all: turned on, or given a sidecar other than the default. */
export const routerEnabled = (config: AppConfigShape) =>
  config.enable_slm_router || config.layer2.sidecar_url !== "http://127.0.0.1:8081"

/**
 * L2: a small model behind an OpenAI-compatible sidecar classifies the request; simple ones it answers itself,
 * behind a quality guard. A sidecar that is down or slow makes the layer unavailable: requests go on to L3.
 */
export class Router extends Context.Service<Router, {
  readonly route: (request: ChatRequest) => Effect.Effect<RoutedAnswer, RouterDeclined | LayerUnavailable>
  readonly status: Effect.Effect<{ readonly status: string; readonly sidecar: string; readonly mode: string; readonly reason?: string }>
}>()("isartor/Router") {
  static readonly layer = Layer.effect(
    Router,
    Effect.gen(function*() {
      const { layer2 } = yield* AppConfig
      const transport = makeTransport("sidecar", { apiKey: Redacted.make(""), timeoutMs: layer2.timeout_seconds * 1000 })
      // llama.cpp, vLLM, Ollama, LM Studio: a bare server address means its OpenAI-compatible API under /v1.
      const endpoint = serverChatEndpoint(layer2.sidecar_url)
      const unavailable = (error: ProviderError) =>
        new LayerUnavailable({ layer: "l2", reason: `sidecar ${error.reason}: ${error.message}` })
      const chat = (body: Record<string, unknown>) =>
        transport.post(endpoint, {}, { ...body, model: layer2.model_name, stream: false }).pipe(
          Effect.flatMap((response) => transport.json<Completion>(response)),
          Effect.mapError(unavailable)
        )

      return Router.of({
        route: (request) =>
          Effect.gen(function*() {
            const text = lastUserText(request)
            const tools = request.body.tools
            if (text === undefined || (Array.isArray(tools) && tools.length > 0)) {
              return yield* new LayerUnavailable({ layer: "l2", reason: "only plain-text requests without tools are routed" })
            }
            const verdict = yield* chat({
              temperature: 0,
              max_tokens: 5,
              messages: [{ role: "system", content: layer2.classifier_mode === "tiered" ? TIERED_PROMPT : BINARY_PROMPT }, { role: "user", content: text }]
            })
            const tier = parseTier(firstText(verdict), layer2.classifier_mode)
            if (tier === "COMPLEX") return yield* new RouterDeclined({ tier, reason: "classified COMPLEX" })
            const { stream: _stream, stream_options: _options, ...body } = request.body
            const answer = yield* chat({ ...body, max_tokens: layer2.max_answer_tokens })
            const weak = guardVerdict(firstText(answer), layer2)
            if (weak !== undefined) return yield* new RouterDeclined({ tier, reason: `quality guard: ${weak}` })
            return { completion: answer, tier }
          }).pipe(Effect.withSpan("Router.route")),
        status: Effect.tryPromise({
          try: () => fetch(endpoint.replace(/\/chat\/completions$/, "/models"), { signal: AbortSignal.timeout(2000) }),
          catch: (error) => String(error)
        }).pipe(
          Effect.map((response) =>
            response.ok
              ? { status: "ok", sidecar: layer2.sidecar_url, mode: layer2.classifier_mode }
              : { status: "unavailable", sidecar: layer2.sidecar_url, mode: layer2.classifier_mode, reason: `GET /v1/models answered ${response.status}` }
          ),
          Effect.catch((reason) => Effect.succeed({ status: "unavailable", sidecar: layer2.sidecar_url, mode: layer2.classifier_mode, reason }))
        )
      })
    })
  )
}
