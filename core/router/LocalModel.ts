import { Context, Effect, Layer, Redacted } from "effect"
import { AppConfig } from "../config/Config.ts"
import type { Completion } from "../domain/Completion.ts"
import { LayerUnavailable, messageOf, type ProviderError } from "../domain/errors.ts"
import { serverChatEndpoint } from "../transport/endpoints.ts"
import { makeTransport, transportLimits } from "../transport/http.ts"

/** One chat turn as a small model sees it: plain text only (L2 routes no tools, no images). */
export interface LocalMessage {
  readonly role: "system" | "user" | "assistant"
  readonly content: string
}

/**
 * A small model run inside the gateway's process (node-llama-cpp over a GGUF file), provided by the runtime
 * entrypoint: `core/` loads no native code and reads no files.
 */
export interface EmbeddedEngine {
  readonly name: string
  readonly chat: (
    messages: ReadonlyArray<LocalMessage>,
    options: { readonly maxTokens: number; readonly temperature?: number }
  ) => Promise<string>
  readonly dispose?: () => Promise<void>
}

export interface LocalModelStatus {
  readonly status: "ok" | "unavailable"
  readonly engine: "sidecar" | "embedded"
  readonly model: string
  /** The sidecar's address, for the sidecar engine. */
  readonly sidecar?: string
  readonly reason?: string
}

export interface LocalChatRequest {
  readonly messages: ReadonlyArray<LocalMessage>
  readonly maxTokens: number
  readonly temperature?: number
  /** Any other OpenAI chat parameters the client sent (top_p, stop…), passed on where the engine takes them. */
  readonly extra?: Record<string, unknown>
}

const unavailable = (reason: string) => new LayerUnavailable({ layer: "l2", reason })

/**
 * The small model behind L2: it classifies (when `layer2.classifier = model`) and writes the local answers. Either
 * an OpenAI-compatible sidecar (llama.cpp server, vLLM, Ollama, LM Studio) or an embedded engine. Any failure or
 * timeout is `LayerUnavailable`: the request goes on to L3.
 */
export class LocalModel extends Context.Service<LocalModel, {
  readonly chat: (request: LocalChatRequest) => Effect.Effect<Completion, LayerUnavailable>
  readonly status: Effect.Effect<LocalModelStatus>
}>()("isartor/LocalModel") {
  static readonly layerSidecar = Layer.effect(
    LocalModel,
    Effect.gen(function*() {
      const config = yield* AppConfig
      const { layer2 } = config
      const transport = makeTransport("sidecar", {
        apiKey: Redacted.make(""),
        ...transportLimits(config),
        timeoutMs: layer2.timeout_seconds * 1000
      })
      // A bare server address means its OpenAI-compatible API under /v1.
      const endpoint = serverChatEndpoint(layer2.sidecar_url)
      const describe = { engine: "sidecar" as const, model: layer2.model_name, sidecar: layer2.sidecar_url }
      return LocalModel.of({
        chat: ({ messages, maxTokens, temperature, extra }) =>
          transport.post(endpoint, {}, {
            ...extra,
            model: layer2.model_name,
            messages,
            max_tokens: maxTokens,
            ...(temperature === undefined ? {} : { temperature }),
            stream: false
          }).pipe(
            Effect.flatMap((response) => transport.json<Completion>(response)),
            Effect.mapError((error: ProviderError) => unavailable(`sidecar ${error.reason}: ${error.message}`))
          ),
        status: Effect.tryPromise({
          try: () => fetch(endpoint.replace(/\/chat\/completions$/, "/models"), { signal: AbortSignal.timeout(2000) }),
          catch: (error) => String(error)
        }).pipe(
          Effect.map((response): LocalModelStatus =>
            response.ok
              ? { status: "ok", ...describe }
              : { status: "unavailable", ...describe, reason: `GET /v1/models answered ${response.status}` }
          ),
          Effect.catch((reason) => Effect.succeed<LocalModelStatus>({ status: "unavailable", ...describe, reason }))
        )
      })
    })
  )

  /** In-process generation; `engine` is the reason it could not be loaded when it is a string. */
  static readonly layerEmbedded = (engine: EmbeddedEngine | string) =>
    Layer.effect(
      LocalModel,
      Effect.gen(function*() {
        const { layer2 } = yield* AppConfig
        if (typeof engine === "string") {
          const status: LocalModelStatus = { status: "unavailable", engine: "embedded", model: "none", reason: engine }
          return LocalModel.of({
            chat: () => Effect.fail(unavailable(`embedded engine not loaded: ${engine}`)),
            status: Effect.succeed(status)
          })
        }
        let lastError: string | undefined
        return LocalModel.of({
          chat: ({ messages, maxTokens, temperature }) =>
            Effect.tryPromise({
              try: async () => {
                const text = await engine.chat(messages, {
                  maxTokens,
                  ...(temperature === undefined ? {} : { temperature })
                })
                lastError = undefined
                return text
              },
              catch: (error) =>
                unavailable(
                  `embedded engine failed: ${lastError = messageOf(error)}`
                )
            }).pipe(
              Effect.timeoutOrElse({
                duration: layer2.timeout_seconds * 1000,
                orElse: () => Effect.fail(unavailable(`embedded engine took over ${layer2.timeout_seconds} s`))
              }),
              Effect.map((text): Completion => ({
                id: `chatcmpl-local-${Date.now().toString(36)}`,
                object: "chat.completion",
                created: Math.floor(Date.now() / 1000),
                model: engine.name,
                choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }]
              }))
            ),
          status: Effect.sync((): LocalModelStatus =>
            lastError === undefined
              ? { status: "ok", engine: "embedded", model: engine.name }
              : { status: "unavailable", engine: "embedded", model: engine.name, reason: lastError }
          )
        })
      })
    )
}
