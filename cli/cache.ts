import { Redacted } from "effect"
import type { EntryView } from "../core/cache/CacheEntry.ts"
import { bold, CliFailure, dim, printJson } from "./output.ts"
import { liveness, stateDir } from "./state.ts"

export interface CacheOptions {
  readonly url?: string
  readonly adminKey?: string
  readonly json?: boolean
}

export interface CacheFilters {
  readonly model?: string
  readonly tenant?: string
  readonly olderThan?: number
  readonly questionContains?: string
  readonly dryRun?: boolean
}

/**
 * Where the admin API is and its key: `--url`, else the running gateway's (from the state directory), else
 * `ISARTOR_URL`; `--admin-key`, else the gateway's configuration (`ISARTOR__ADMIN_API_KEY` or its file).
 */
const target = async (options: CacheOptions) => {
  const running = liveness(stateDir())
  const url = options.url ?? (running.kind === "running" ? running.running.url : process.env.ISARTOR_URL)
  if (url === undefined) {
    throw new CliFailure("no gateway to ask: isartor is not running here; pass --url http://host:port (or ISARTOR_URL)")
  }
  let key = options.adminKey ?? process.env.ISARTOR__ADMIN_API_KEY
  if (key === undefined) {
    const { effectiveConfig, gatewayEnv } = await import("./gatewayEnv.ts")
    const config = running.kind === "running" ? running.running.config : undefined
    key = await effectiveConfig(gatewayEnv({ config })).then((loaded) => Redacted.value(loaded.config.admin_api_key))
      .catch(() => "")
  }
  if (key === "") {
    throw new CliFailure(
      "no admin key: the cache commands need the admin API; set ISARTOR__ADMIN_API_KEY on the gateway and pass --admin-key"
    )
  }
  return { url: url.replace(/\/+$/, ""), key }
}

const request = async (options: CacheOptions, method: string, path: string, body?: unknown) => {
  const { url, key } = await target(options)
  let response: Response
  try {
    response = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000)
    })
  } catch (error) {
    throw new CliFailure(`cannot reach ${url}: ${error instanceof Error ? error.message : String(error)}`)
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

const filterBody = (filters: CacheFilters) => ({
  ...(filters.model ? { model: filters.model } : {}),
  ...(filters.tenant ? { tenant: filters.tenant } : {}),
  ...(filters.olderThan !== undefined ? { older_than_secs: filters.olderThan } : {}),
  ...(filters.questionContains ? { question_contains: filters.questionContains } : {})
})

const line = (entry: EntryView) =>
  `${bold(entry.id)}  ${entry.model || "?"}  ${dim(entry.created)}  hits ${entry.hits}  ${
    JSON.stringify(entry.question.slice(0, 80))
  }`

export const list = async (filters: CacheFilters, options: CacheOptions): Promise<number> => {
  const query = new URLSearchParams(Object.entries(filterBody(filters)).map(([name, value]) => [name, String(value)]))
  const answer = await request(options, "GET", `/admin/cache${query.size > 0 ? `?${query}` : ""}`)
  const entries = answer.data as Array<EntryView>
  if (options.json) printJson(entries)
  else if (entries.length === 0) console.log("no cache entries")
  else for (const entry of entries) console.log(line(entry))
  return 0
}

export const show = async (id: string, options: CacheOptions): Promise<number> => {
  const entry = (await request(options, "GET", `/admin/cache/${encodeURIComponent(id)}`)) as EntryView
  if (options.json) printJson(entry)
  else {
    for (const [name, value] of Object.entries(entry)) console.log(`${name.padEnd(9)} ${String(value)}`)
  }
  return 0
}

export const remove = async (id: string, options: CacheOptions): Promise<number> => {
  const answer = await request(options, "DELETE", `/admin/cache/${encodeURIComponent(id)}`)
  if (options.json) printJson(answer)
  else {console.log(
      `removed ${answer.deleted} entr${
        answer.deleted === 1 ? "y" : "ies"
      } (${id} and the same answer in the other layer)`
    )}
  return 0
}

export const purge = async (filters: CacheFilters, options: CacheOptions): Promise<number> => {
  const body = filterBody(filters)
  if (Object.keys(body).length === 0) {
    throw new CliFailure(
      "purge needs a filter (--model, --tenant, --older-than, --question-contains); flush removes everything",
      2
    )
  }
  const answer = await request(options, "POST", "/admin/cache/purge", { ...body, dry_run: filters.dryRun === true })
  if (options.json) printJson(answer)
  else if (filters.dryRun) console.log(`${answer.matched} entries match; nothing removed (dry run)`)
  else console.log(`removed ${answer.removed} of ${answer.matched} matching entries`)
  return 0
}

export const flush = async (options: CacheOptions): Promise<number> => {
  const answer = await request(options, "POST", "/admin/cache/flush")
  if (options.json) printJson(answer)
  else console.log(`flushed ${answer.total} entries (L1a ${answer.removed.l1a}, L1b ${answer.removed.l1b})`)
  return 0
}
