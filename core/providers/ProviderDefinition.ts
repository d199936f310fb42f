import type { Effect, Redacted } from "effect"
import type { ChatRequest } from "../ChatRequest.ts"
import type { Completion } from "../Completion.ts"
import type { ProviderError } from "../errors.ts"

/** What a provider is built from: the L3 slice of the configuration. */
export interface ProviderSettings {
  readonly url: string
  readonly apiKey: Redacted.Redacted<string>
  readonly timeoutMs: number
}

/** A provider ready to take requests. Streams are OpenAI `chat.completion.chunk` SSE bytes. */
export interface ProviderClient {
  readonly id: string
  /** False when the provider needs a key and none is set: calls fail with reason `NotConfigured`. */
  readonly configured: boolean
  readonly complete: (request: ChatRequest) => Effect.Effect<Completion, ProviderError>
  readonly stream: (request: ChatRequest) => Effect.Effect<ReadableStream<Uint8Array>, ProviderError>
}

/** One entry of the registry: one file in `core/providers/`, named after the id. */
export interface ProviderDefinition {
  readonly id: string
  readonly requiresKey: boolean
  /** A start-up check of the key's shape; returns what is wrong, never the key. */
  readonly checkKey: (key: string) => string | undefined
  readonly make: (settings: ProviderSettings) => ProviderClient
}
