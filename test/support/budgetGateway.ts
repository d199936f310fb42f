import { type Gateway, type GatewayOptions, startGateway } from "../../core/Gateway.ts"
import { makeMovableClock, type MovableClock } from "./movableClock.ts"

export const BUDGET_ADMIN_KEY = "admin-key-for-budget-tests"

export interface AskOptions {
  /** The client API: OpenAI's chat route unless named. */
  readonly family?: "openai" | "anthropic" | "gemini" | "native"
  readonly model?: string
  readonly maxTokens?: number
  /** The gateway key the caller presents (`Authorization: Bearer`). */
  readonly key?: string
}

export interface BudgetGateway {
  readonly gateway: Gateway
  readonly clock: MovableClock
  /** Every log line the gateway wrote. */
  readonly lines: Array<string>
  /** One prompt in the client API `options.family` speaks, answered in process (no socket). */
  readonly ask: (content: string, options?: AskOptions) => Promise<Response>
  /** An admin GET (`/admin/overview`, `/metrics`). */
  readonly get: (path: string) => Promise<Response>
  /** Moves the gateway's clock to `ms` since the epoch (forward only). */
  readonly setTime: (ms: number) => void
  readonly close: () => Promise<void>
}

const requestOf = (content: string, options: AskOptions): { path: string; body: unknown } => {
  const model = options.model ?? "gpt-4o-mini"
  const maxTokens = options.maxTokens ?? 16
  switch (options.family ?? "openai") {
    case "anthropic":
      return { path: "/v1/messages", body: { model, max_tokens: maxTokens, messages: [{ role: "user", content }] } }
    case "gemini":
      return {
        path: `/v1beta/models/${model}:generateContent`,
        body: {
          contents: [{ role: "user", parts: [{ text: content }] }],
          generationConfig: { maxOutputTokens: maxTokens }
        }
      }
    case "native":
      return { path: "/api/chat", body: { prompt: content, model } }
    default:
      return {
        path: "/v1/chat/completions",
        body: { model, max_tokens: maxTokens, messages: [{ role: "user", content }] }
      }
  }
}

/**
 * A gateway in process for the budget and routing tests, configured by an `isartor.toml`: its clock moves only when
 * the test moves it (so a UTC day or month ends at once), its log lines are kept, and it has an admin key.
 */
export const startBudgetGateway = async (
  toml: string,
  env: Record<string, string> = {},
  options: GatewayOptions = {}
): Promise<BudgetGateway> => {
  const lines: Array<string> = []
  const clock = makeMovableClock()
  const gateway = await startGateway({
    env: {
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__ADMIN_API_KEY: BUDGET_ADMIN_KEY,
      ISARTOR__L3_RETRY_BASE_MS: "1",
      ...env
    },
    readTextFile: async (path) => (path === "isartor.toml" ? toml : undefined)
  }, {
    ...options,
    log: { info: (line) => lines.push(line), warn: (line) => lines.push(line) },
    clock: clock.clock
  })
  return {
    gateway,
    clock,
    lines,
    ask: async (content, askOptions = {}) => {
      const { path, body } = requestOf(content, askOptions)
      return gateway.fetch(
        new Request(`http://gateway${path}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            ...(askOptions.key === undefined ? {} : { authorization: `Bearer ${askOptions.key}` })
          },
          body: JSON.stringify(body)
        })
      )
    },
    get: async (path) =>
      gateway.fetch(new Request(`http://gateway${path}`, { headers: { authorization: `Bearer ${BUDGET_ADMIN_KEY}` } })),
    setTime: (ms) => clock.advance(ms - clock.clock.currentTimeMillisUnsafe()),
    close: () => gateway.dispose()
  }
}

/** A time on the gateway's calendar: `monthsAhead` months from now, on `day` at `hour`:`minute` UTC. */
export const utc = (monthsAhead: number, day: number, hour = 12, minute = 0) => {
  const now = new Date()
  return Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + monthsAhead, day, hour, minute)
}
