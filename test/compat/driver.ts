import assert from "node:assert/strict"

/**
 * Each real client library, driven the way its documentation shows, behind one small interface so that the
 * compatibility suite is a table: ask (plain or streamed, with or without a system prompt), a tool round trip
 * (the model calls `get_weather`, the client answers "sunny"), and a failing prompt whose error the client raises.
 */
export interface Driver {
  readonly name: string
  /** The API the client speaks, and so the shape its errors come in. */
  readonly api: "chat" | "messages" | "responses"
  ask(prompt: string, options?: { readonly system?: string; readonly stream?: boolean }): Promise<Answer>
  toolRoundTrip(
    prompt: string,
    options?: { readonly stream?: boolean }
  ): Promise<{ readonly name: string; readonly args: unknown; readonly answer: string }>
  /** Sends a prompt that must fail; resolves with what the client threw. */
  fail(prompt: string): Promise<unknown>
  /** Asserts that `error` is the client's own error for an HTTP `status` in its API's format, quoting `message`. */
  assertError(error: unknown, status: number, message: string): void
}

/** An answer's text and token usage, as the client reports them. */
export interface Answer {
  readonly text: string
  readonly inputTokens: number | undefined
  readonly outputTokens: number | undefined
}

/** What the client sent (path, body, headers) and which layer answered, as the client's fetch saw it. */
export interface Tap {
  readonly paths: Array<string>
  readonly bodies: Array<unknown>
  readonly headers: Array<Headers>
  readonly layers: Array<string | null>
  readonly fetch: typeof fetch
}

export const makeTap = (): Tap => {
  const paths: Array<string> = []
  const bodies: Array<unknown> = []
  const headers: Array<Headers> = []
  const layers: Array<string | null> = []
  return {
    paths,
    bodies,
    headers,
    layers,
    fetch: async (input, init) => {
      paths.push(new URL(input instanceof Request ? input.url : input).pathname)
      bodies.push(init?.body)
      headers.push(new Headers(init?.headers))
      const response = await fetch(input, init)
      layers.push(response.headers.get("x-isartor-layer"))
      return response
    }
  }
}

/** The gateway route each API's clients call. */
export const routeOf = { chat: "/v1/chat/completions", messages: "/v1/messages", responses: "/v1/responses" } as const

export interface DriverOptions {
  readonly url: string
  readonly apiKey: string
  readonly tap: Tap
  /** The client's retries; undefined keeps the library's default. */
  readonly maxRetries?: number
}

export type DriverFactory = {
  readonly name: string
  readonly api: Driver["api"]
  readonly make: (options: DriverOptions) => Driver
}

export const caught = (promise: Promise<unknown>) =>
  promise.then(() => assert.fail("expected an error"), (e: unknown) => e)

export const weatherParameters = {
  type: "object" as const,
  properties: { query: { type: "string" } },
  required: ["query"]
}
export const weatherDescription = "The weather for a question"
export const SUNNY = "sunny"
