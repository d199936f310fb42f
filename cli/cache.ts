import type { EntryView } from "../core/cache/CacheEntry.ts"
import { type AdminOptions, adminRequest } from "./adminApi.ts"
import { bold, CliFailure, dim, printJson } from "./output.ts"

export interface CacheOptions extends AdminOptions {
  readonly json?: boolean
}

export interface CacheFilters {
  readonly model?: string
  readonly tenant?: string
  readonly olderThan?: number
  readonly questionContains?: string
  readonly dryRun?: boolean
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
  const answer = await adminRequest(options, "GET", `/admin/cache${query.size > 0 ? `?${query}` : ""}`)
  const entries = answer.data as Array<EntryView>
  if (options.json) printJson(entries)
  else if (entries.length === 0) console.log("no cache entries")
  else for (const entry of entries) console.log(line(entry))
  return 0
}

export const show = async (id: string, options: CacheOptions): Promise<number> => {
  const entry = (await adminRequest(options, "GET", `/admin/cache/${encodeURIComponent(id)}`)) as EntryView
  if (options.json) printJson(entry)
  else {
    for (const [name, value] of Object.entries(entry)) console.log(`${name.padEnd(9)} ${String(value)}`)
  }
  return 0
}

export const remove = async (id: string, options: CacheOptions): Promise<number> => {
  const answer = await adminRequest(options, "DELETE", `/admin/cache/${encodeURIComponent(id)}`)
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
  const answer = await adminRequest(options, "POST", "/admin/cache/purge", {
    ...body,
    dry_run: filters.dryRun === true
  })
  if (options.json) printJson(answer)
  else if (filters.dryRun) console.log(`${answer.matched} entries match; nothing removed (dry run)`)
  else console.log(`removed ${answer.removed} of ${answer.matched} matching entries`)
  return 0
}

export const flush = async (options: CacheOptions): Promise<number> => {
  const answer = await adminRequest(options, "POST", "/admin/cache/flush")
  if (options.json) printJson(answer)
  else console.log(`flushed ${answer.total} entries (L1a ${answer.removed.l1a}, L1b ${answer.removed.l1b})`)
  return 0
}
