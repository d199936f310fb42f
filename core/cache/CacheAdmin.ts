import { Clock, Context, Effect, Layer } from "effect"
import type { LayerUnavailable } from "../domain/errors.ts"
import { type EntryFilter, entryIdOf, type EntryMeta, type EntryView, matches, parseEntryId } from "./CacheEntry.ts"
import { ExactCache } from "./exact/ExactCache.ts"
import type { ExactEntry } from "./exact/ExactStore.ts"
import type { SemanticEntry } from "./semantic/LabelledIndex.ts"
import { SemanticCache } from "./semantic/SemanticCache.ts"

/** Entries found in both layers, as the admin API lists them. */
interface Found {
  readonly id: string
  readonly view: EntryView
  readonly meta: EntryMeta | undefined
}

const iso = (ms: number | undefined) => (ms === undefined ? "" : new Date(ms).toISOString())

/** An L1a entry as the admin API shows it. */
const exactView = (exact: ExactCache["Service"], key: string, entry: ExactEntry): EntryView => ({
  id: entryIdOf("l1a", key),
  layer: "l1a",
  tenant: entry.meta?.tenant ?? "",
  model: entry.meta?.model ?? "",
  question: entry.meta?.question ?? "",
  created: iso(entry.meta?.created),
  expires: iso(entry.meta?.expires),
  hits: exact.hits(key),
  ...(entry.meta?.semanticKey ? { linked: entryIdOf("l1b", entry.meta.semanticKey) } : {})
})

/** An L1b entry as the admin API shows it. */
const semanticView = (semantic: SemanticCache["Service"], entry: SemanticEntry): EntryView => ({
  id: entryIdOf("l1b", entry.id),
  layer: "l1b",
  tenant: entry.meta?.tenant ?? "",
  model: entry.meta?.model ?? "",
  question: entry.meta?.question ?? entry.text,
  created: iso(entry.meta?.created),
  expires: iso(entry.meta?.expires),
  hits: semantic.hits(entry.id),
  ...(entry.meta?.exactKey ? { linked: entryIdOf("l1a", entry.meta.exactKey) } : {})
})

const visible = (meta: EntryMeta | undefined, tenant: string | undefined) =>
  tenant === undefined || meta?.tenant === tenant

/**
 * Both layers' entries by admin id: find one (in the caller's scope), remove one, list all or those a filter
 * matches. `clock` is the one the entries were stamped with, so that `older_than_secs` ages them as the caches do.
 */
const bothLayers = (exact: ExactCache["Service"], semantic: SemanticCache["Service"], clock: Clock.Clock) => {
  const find = (id: string, tenant: string | undefined) =>
    Effect.gen(function*() {
      const parsed = parseEntryId(id)
      if (parsed === undefined) return undefined
      if (parsed.layer === "l1a") {
        const entry = yield* exact.entry(parsed.key)
        return entry && visible(entry.meta, tenant) ? exactView(exact, parsed.key, entry) : undefined
      }
      const entry = semantic.entry(parsed.key)
      return entry && visible(entry.meta, tenant) ? semanticView(semantic, entry) : undefined
    })

  const removeOne = (id: string) => {
    const parsed = parseEntryId(id)
    if (parsed === undefined) return Effect.succeed(false)
    return parsed.layer === "l1a" ? exact.remove(parsed.key) : semantic.remove(parsed.key)
  }

  const all = Effect.gen(function*() {
    const found: Array<Found> = []
    for (const [key, entry] of yield* exact.list) {
      found.push({ id: entryIdOf("l1a", key), view: exactView(exact, key, entry), meta: entry.meta })
    }
    for (const entry of semantic.list()) {
      found.push({ id: entryIdOf("l1b", entry.id), view: semanticView(semantic, entry), meta: entry.meta })
    }
    return found
  })
  const matching = (filter: EntryFilter) =>
    Effect.map(all, (found) => {
      const now = clock.currentTimeMillisUnsafe()
      return found.filter((entry) => matches(entry.meta, filter, now))
    })
  return { find, removeOne, all, matching }
}

/**
 * Finding, inspecting and removing cached answers, in both layers at once: an entry names the same answer's entry
 * in the other layer, and removing one removes both. `tenant` (a caller's scope) limits what is seen to that
 * caller's entries; the admin key sees all.
 */
export class CacheAdmin extends Context.Service<CacheAdmin, {
  readonly get: (id: string, tenant?: string) => Effect.Effect<EntryView | undefined, LayerUnavailable>
  /** Removes the entry and the same answer's entry in the other layer; how many went (0: not found or not theirs). */
  readonly remove: (id: string, tenant?: string) => Effect.Effect<number, LayerUnavailable>
  readonly list: (filter: EntryFilter) => Effect.Effect<ReadonlyArray<EntryView>, LayerUnavailable>
  /** Removes every entry the filter matches, or (dry run) counts them. */
  readonly purge: (
    filter: EntryFilter,
    dryRun: boolean
  ) => Effect.Effect<{ matched: number; removed: number }, LayerUnavailable>
  readonly flush: Effect.Effect<{ l1a: number; l1b: number }, LayerUnavailable>
  /**
   * A caller's word on an L1b answer (`correct: false` stops the entry answering other questions); "exact" for an
   * L1a entry (the answer to that very question), "missing" when not found or not theirs.
   */
  readonly feedback: (
    id: string,
    tenant: string | undefined,
    correct: boolean
  ) => Effect.Effect<"recorded" | "exact" | "missing", LayerUnavailable>
}>()("isartor/CacheAdmin") {
  static readonly layer = Layer.effect(
    CacheAdmin,
    Effect.gen(function*() {
      const exact = yield* ExactCache
      const semantic = yield* SemanticCache
      const { find, removeOne, all, matching } = bothLayers(exact, semantic, yield* Clock.Clock)

      return CacheAdmin.of({
        get: find,
        remove: (id, tenant) =>
          Effect.gen(function*() {
            const view = yield* find(id, tenant)
            if (view === undefined) return 0
            let removed = (yield* removeOne(view.id)) ? 1 : 0
            if (view.linked !== undefined && (yield* removeOne(view.linked))) removed++
            return removed
          }),
        list: (filter) => Effect.map(matching(filter), (found) => found.map((entry) => entry.view)),
        purge: (filter, dryRun) =>
          Effect.gen(function*() {
            const found = yield* matching(filter)
            if (dryRun) return { matched: found.length, removed: 0 }
            let removed = 0
            for (const entry of found) if (yield* removeOne(entry.id)) removed++
            return { matched: found.length, removed }
          }),
        feedback: (id, tenant, correct) =>
          Effect.map(find(id, tenant), (view) => {
            if (view === undefined) return "missing"
            if (view.layer === "l1a") return "exact"
            const parsed = parseEntryId(view.id)
            return parsed && semantic.feedback(parsed.key, correct) ? "recorded" : "missing"
          }),
        flush: Effect.gen(function*() {
          const found = yield* all
          const counts = { l1a: 0, l1b: 0 }
          for (const entry of found) if (yield* removeOne(entry.id)) counts[entry.view.layer]++
          return counts
        })
      })
    })
  )
}
