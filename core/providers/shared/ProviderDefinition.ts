import type { Effect, Redacted } from "effect"
import type { AppConfigShape } from "../../config/ConfigSpec.ts"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import type { Completion } from "../../domain/Completion.ts"
import type { ProviderError } from "../../domain/errors.ts"
import type { TransportLimits } from "../../transport/http.ts"

/** What one provider is built from. */
export interface ProviderSettings {
  /** The endpoint; empty means the provider's public API. */
  readonly url: string
  readonly apiKey: Redacted.Redacted<string>
  /** The variable that sets `apiKey`, for messages that say what to set. */
  readonly keyVariable: string
  /** How long and how much of an answer the gateway waits for and takes. */
  readonly limits: TransportLimits
  /** Replaces the request's model (a fallback is asked for its own model, not the primary's). */
  readonly model: string | undefined
  /** The whole configuration, for provider-specific keys (Azure deployment, OpenAI organisation…). */
  readonly config: AppConfigShape
}

/**
 * A provider ready to take requests, speaking the gateway's canonical format both ways: an OpenAI Chat
 * Completions body in, a `chat.completion` or a stream of `chat.completion.chunk` SSE bytes out.
 */
export interface ProviderClient {
  readonly id: string
  /** False when the provider needs a key and none is set: calls fail with reason `NotConfigured`. */
  readonly configured: boolean
  readonly complete: (request: ChatRequest) => Effect.Effect<Completion, ProviderError>
  readonly stream: (request: ChatRequest) => Effect.Effect<ReadableStream<Uint8Array>, ProviderError>
  /**
   * OpenAI `POST /responses`, for a provider that speaks the Responses API: the client's body as it came (model
   * mapped), the raw answer: JSON, or the API's typed SSE events (scrubbed like any stream).
   */
  readonly responses?: (
    source: ResponsesSource,
    stream: boolean
  ) => Effect.Effect<Record<string, unknown> | ReadableStream<Uint8Array>, ProviderError>
  /** OpenAI `POST /embeddings`: the client's body (model mapped), the provider's JSON answer; where it has one. */
  readonly embed?: (body: Readonly<Record<string, unknown>>) => Effect.Effect<Record<string, unknown>, ProviderError>
  /** The provider's own token count of an Anthropic Messages body (`/v1/messages/count_tokens`), where it has one. */
  readonly countTokens?: (body: Readonly<Record<string, unknown>>) => Effect.Effect<number, ProviderError>
  /** `GET …/models`, for the background health check: succeeds when the provider answers it; where it has one. */
  readonly listModels?: () => Effect.Effect<void, ProviderError>
}

/** A Responses API request as the client sent it. */
export interface ResponsesSource {
  readonly text: string
  readonly body: Readonly<Record<string, unknown>>
  readonly headers: Readonly<Record<string, string>>
}

/** One entry of the registry: one file in `core/providers/`, named after the id. */
export interface ProviderDefinition {
  readonly id: string
  readonly requiresKey: boolean
  /** A start-up check of the key's shape; returns what is wrong, never the key. */
  readonly checkKey: (key: string) => string | undefined
  /** Start-up checks of provider-specific settings; each entry names the variable and what is wrong. */
  readonly checkSettings?: (config: AppConfigShape) => ReadonlyArray<string>
  readonly make: (settings: ProviderSettings) => ProviderClient
}

/** Keys are printable ASCII without spaces; anything else is a paste accident. */
export const checkPrintableKey = (key: string): string | undefined =>
  /^[\x21-\x7e]{8,}$/.test(key) ? undefined : "expected at least 8 printable characters without spaces"
