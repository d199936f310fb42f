import {
  type FakeBehaviour,
  type FakeModel,
  type FakeProviders,
  type ProviderCall,
  startFakeProviders
} from "./fakeProviders.ts"

/**
 * The shared provider fake (fakeProviders.ts) as an OpenAI upstream: its URL is the API's `/v1`, it requires
 * `Authorization: Bearer` with `TEST_PROVIDER_KEY` (the key `upstreamEnv` configures), and its model echoes the last
 * message, so different requests get different answers.
 */
export const TEST_PROVIDER_KEY = "sk-test-0123456789abcdef"

export type RecordedCall = ProviderCall
export type Behaviour = FakeBehaviour

export type FakeOpenAI = FakeProviders

export const answerFor = (body: Record<string, unknown>): string => {
  const messages = (body.messages ?? []) as Array<{ role: string; content: unknown }>
  const last = messages[messages.length - 1]
  const text = typeof last?.content === "string" ? last.content : JSON.stringify(last?.content)
  return `Answer #${messages.length} to: ${text}`
}

/** Answers every request with `answerFor` its body. */
export const echoModel: FakeModel = { promptTokens: 9, reply: (_, body) => ({ kind: "text", text: answerFor(body) }) }

export interface FakeOptions {
  /** Keep every request for assertions (tests); off for load, where it would only grow. */
  readonly record?: boolean
  readonly port?: number
  readonly defaultBehaviour?: Behaviour
  /** The key it requires; `TEST_PROVIDER_KEY` by default. */
  readonly apiKey?: string
}

export const startFakeOpenAI = async (options: FakeOptions = {}): Promise<FakeOpenAI> => {
  const fake = await startFakeProviders(options.apiKey ?? TEST_PROVIDER_KEY, { ...options, model: echoModel })
  return { ...fake, url: `${fake.url}/v1` }
}
