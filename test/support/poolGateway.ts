import { type Gateway, startGateway } from "../../core/Gateway.ts"
import { makeMovableClock, type MovableClock } from "./movableClock.ts"

export const ADMIN_KEY = "admin-key-for-pool-tests"

export interface PoolGateway {
  readonly gateway: Gateway
  readonly clock: MovableClock
  /** Every log line the gateway wrote (debug and up). */
  readonly lines: Array<string>
  /** A chat request on `path` (OpenAI's by default) asking `content`, answered in process (no socket). */
  readonly ask: (content: string, options?: { path?: string; model?: string }) => Promise<Response>
  readonly get: (path: string) => Promise<Response>
  /** `GET /admin/providers`' list. */
  readonly providers: () => Promise<Array<Record<string, any>>>
  readonly close: () => Promise<void>
}

/**
 * A gateway in process for the key-pool, breaker and alias tests: its clock moves only when the test moves it, its
 * log lines are kept, and it has an admin key for `/admin/providers`.
 */
export const startPoolGateway = async (
  env: Record<string, string>,
  files: Record<string, string> = {}
): Promise<PoolGateway> => {
  const lines: Array<string> = []
  const clock = makeMovableClock()
  const gateway = await startGateway({
    env: {
      ISARTOR__HOST_PORT: "127.0.0.1:0",
      ISARTOR__LOG_LEVEL: "debug",
      ISARTOR__ADMIN_API_KEY: ADMIN_KEY,
      ISARTOR__L3_RETRY_BASE_MS: "1",
      ...env
    },
    readTextFile: async (path) => files[path]
  }, { log: { info: (line) => lines.push(line), warn: (line) => lines.push(line) }, clock: clock.clock })
  const get = async (path: string) =>
    gateway.fetch(new Request(`http://gateway${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }))
  return {
    gateway,
    clock,
    lines,
    ask: async (content, options = {}) =>
      gateway.fetch(
        new Request(`http://gateway${options.path ?? "/v1/chat/completions"}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: options.model ?? "gpt-4o-mini",
            max_tokens: 16,
            messages: [{ role: "user", content }]
          })
        })
      ),
    get,
    providers: async () =>
      ((await (await get("/admin/providers")).json()) as { data: Array<Record<string, any>> }).data,
    close: () => gateway.dispose()
  }
}
