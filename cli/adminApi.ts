import { Redacted } from "effect"
import { CliFailure } from "./output.ts"
import { liveness, stateDir } from "./state.ts"

/** How a command reaches the gateway's admin API. */
export interface AdminOptions {
  readonly url?: string
  readonly adminKey?: string
  /** How long to wait for the answer (default 30 s). */
  readonly timeoutMs?: number
}

/**
 * Where the admin API is and its key: `--url`, else the running gateway's (from the state directory), else
 * `ISARTOR_URL`; `--admin-key`, else `ISARTOR__ADMIN_API_KEY`, else the gateway's configuration file. `undefined`
 * for a part that is not there.
 */
export const adminTarget = async (options: AdminOptions) => {
  const running = liveness(stateDir())
  const url = options.url ?? (running.kind === "running" ? running.running.url : process.env.ISARTOR_URL)
  let key = options.adminKey ?? process.env.ISARTOR__ADMIN_API_KEY
  if (key === undefined) {
    const { effectiveConfig, gatewayEnv } = await import("./gatewayEnv.ts")
    const config = running.kind === "running" ? running.running.config : undefined
    key = await effectiveConfig(gatewayEnv({ config })).then((loaded) => Redacted.value(loaded.config.admin_api_key))
      .catch(() => "")
  }
  return { url: url?.replace(/\/+$/, ""), key: key === "" ? undefined : key }
}

/** A request to the admin API and its JSON; a failure the user can act on says which (not running, no key, wrong key). */
export const adminRequest = async (
  options: AdminOptions,
  method: string,
  path: string,
  body?: unknown
): Promise<Record<string, any>> => {
  const { url, key } = await adminTarget(options)
  if (url === undefined) {
    throw new CliFailure("no gateway to ask: isartor is not running here; pass --url http://host:port (or ISARTOR_URL)")
  }
  if (key === undefined) {
    throw new CliFailure(
      "no admin key: this command needs the gateway's admin API; set ISARTOR__ADMIN_API_KEY on the gateway and pass --admin-key (or export ISARTOR__ADMIN_API_KEY)"
    )
  }
  let response: Response
  try {
    response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000)
    })
  } catch (error) {
    throw new CliFailure(
      `cannot reach ${url}: ${
        error instanceof Error ? error.message : String(error)
      } (is isartor running? isartor up -d)`
    )
  }
  const answer = (await response.json().catch(() => ({}))) as Record<string, any>
  // The gateway's own "no route" (no admin key set there), not an entry that is not found.
  if (response.status === 404 && String(answer.error?.message ?? "").startsWith("no route for")) {
    throw new CliFailure(`${url} has no admin API: set ISARTOR__ADMIN_API_KEY on the gateway`)
  }
  if (!response.ok) {
    throw new CliFailure(String(answer.error?.message ?? `${method} ${path}: HTTP ${response.status}`))
  }
  return answer
}
