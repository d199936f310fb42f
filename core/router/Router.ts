import { Context, Effect, Layer } from "effect"
import { AppConfig } from "../config/Config.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { ChatRequest } from "../domain/ChatRequest.ts"
import { type Completion, firstText } from "../domain/Completion.ts"
import { LayerUnavailable, RouterDeclined } from "../domain/errors.ts"
import { plainTextOf, usesTools } from "../domain/messages.ts"
import type { RoutingDecision } from "../domain/routing.ts"
import { Classifier } from "./Classifier.ts"
import { type LocalMessage, LocalModel, type LocalModelStatus } from "./LocalModel.ts"

/** Everything L2 decided about a request, on the answer (header `X-Isartor-Tier`) and on the request's span. */
export interface RoutedAnswer {
  readonly completion: Completion
  readonly decision: RoutingDecision
}

/** The quality guard: a local answer that is too short or opens with doubt is not worth serving. */
export const guardVerdict = (answer: string, config: AppConfigShape["layer2"]): string | undefined => {
  const text = answer.trim().replace(/^["'“”*\s]+/, "")
  if (text.length < config.min_answer_chars) return `answer shorter than ${config.min_answer_chars} characters`
  const opening = text.toLowerCase().replace(/’/g, "'")
  const phrase = config.guard_phrases.find((p) => opening.startsWith(p.toLowerCase().replace(/’/g, "'")))
  return phrase === undefined ? undefined : `answer opens with "${phrase}"`
}

/** The conversation as plain text turns, or why it cannot be routed (tools, images, tool results). */
const plainConversation = (request: ChatRequest): ReadonlyArray<LocalMessage> | string => {
  if (usesTools(request.body)) return "requests with tools are not routed"
  const out: Array<LocalMessage> = []
  for (const message of request.messages) {
    const role = message.role === "developer" ? "system" : message.role
    if (role !== "system" && role !== "user" && role !== "assistant") return `a ${message.role} message is not routed`
    const content = plainTextOf(message.content)
    if (content === undefined) return "only plain-text conversations are routed"
    out.push({ role, content })
  }
  return out.at(-1)?.role === "user" ? out : "the last message is not the user's"
}

/** Chat parameters passed on to the small model as the client sent them (the rest L2 sets itself). */
const passedOn = (body: Record<string, unknown>) => {
  const {
    stream: _s,
    stream_options: _o,
    model: _m,
    messages: _msg,
    max_tokens: _t,
    max_completion_tokens: _c,
    ...rest
  } = body
  return rest
}

/**
 * The tier on the `l2.route` span: `router.decision`, the name the operators' guide searches traces for, and
 * `isartor.router.decision`, docs/monitoring.md's.
 */
const decisionAttributes = (tier: RoutingDecision["tier"]) => ({
  "router.decision": tier,
  "isartor.router.decision": tier
})

/** Whether L2 runs at all: turned on, or given a sidecar other than the default. */
export const routerEnabled = (config: AppConfigShape) =>
  config.enable_slm_router || config.layer2.sidecar_url !== "http://127.0.0.1:8081" ||
  config.layer2.inference_engine === "embedded"

/**
 * L2: the classifier decides whether a local answer is worth trying; simple requests the small model answers
 * itself, behind a quality guard. A small model that is down or slow makes the layer unavailable: requests go on
 * to L3.
 */
export class Router extends Context.Service<Router, {
  readonly route: (request: ChatRequest) => Effect.Effect<RoutedAnswer, RouterDeclined | LayerUnavailable>
  readonly status: Effect.Effect<
    | (LocalModelStatus & { readonly mode: string; readonly classifier: string })
    | { readonly status: "disabled"; readonly reason: string }
  >
}>()("isartor/Router") {
  /** L2 not configured: every request goes on to L3. */
  static readonly layerDisabled = Layer.succeed(
    Router,
    Router.of({
      route: () => Effect.fail(new LayerUnavailable({ layer: "l2", reason: "router not configured" })),
      status: Effect.succeed({ status: "disabled", reason: "router not configured" })
    })
  )

  static readonly layer = Layer.effect(
    Router,
    Effect.gen(function*() {
      const { layer2 } = yield* AppConfig
      const classifier = yield* Classifier
      const model = yield* LocalModel
      const declined = (decision: RoutingDecision, reason: string) => new RouterDeclined({ decision, reason })

      return Router.of({
        route: (request) =>
          Effect.gen(function*() {
            const messages = plainConversation(request)
            if (typeof messages === "string") return yield* new LayerUnavailable({ layer: "l2", reason: messages })
            const decision = yield* classifier.classify(messages.at(-1)!.content).pipe(
              // The guide: with the small model unreachable, every request is treated as COMPLEX.
              Effect.tapError(() => Effect.annotateCurrentSpan(decisionAttributes("COMPLEX")))
            )
            yield* Effect.annotateCurrentSpan({
              ...decisionAttributes(decision.tier),
              "isartor.l2.tier": decision.tier,
              "isartor.l2.classifier": decision.by,
              ...(decision.confidence === undefined ? {} : { "isartor.l2.confidence": decision.confidence })
            })
            if (decision.tier === "COMPLEX") return yield* declined(decision, "classified COMPLEX")
            // Classified already: a small model that fails now still leaves the decision on the answer L3 gives.
            const answer = yield* model.chat({
              messages,
              maxTokens: layer2.max_answer_tokens,
              extra: passedOn(request.body)
            }).pipe(
              Effect.mapError((unavailable) => declined(decision, `local answer failed: ${unavailable.reason}`))
            )
            const weak = guardVerdict(firstText(answer), layer2)
            yield* Effect.annotateCurrentSpan("isartor.l2.guard", weak ?? "passed")
            if (weak !== undefined) {
              return yield* declined({ ...decision, guard: `quality guard: ${weak}` }, `quality guard: ${weak}`)
            }
            return { completion: answer, decision: { ...decision, guard: "passed" } }
          }).pipe(Effect.withSpan("l2.route", undefined, { captureStackTrace: false })),
        status: Effect.map(
          model.status,
          (status) => ({ ...status, mode: layer2.classifier_mode, classifier: classifier.kind })
        )
      })
    })
  )
}
