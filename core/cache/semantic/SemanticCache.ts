import { Context, Effect, Layer } from "effect"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { type CacheMiss, LayerUnavailable } from "../../domain/errors.ts"
import { CacheKey } from "../CacheKey.ts"
import type { SemanticEntry, SemanticMeta } from "./LabelledIndex.ts"
import { makeLookup, makeStore, makeViews, type Pending, type SemanticHit } from "./semanticLookup.ts"
import { makeParts, type SemanticCacheStatus, statusOf } from "./semanticParts.ts"

export { CANDIDATES, COSINE_THRESHOLD } from "./decision/SemanticDecision.ts"
export { bandOf, budgetOf, type SemanticHit } from "./semanticLookup.ts"
export type { SemanticCacheStatus } from "./semanticParts.ts"
export { semanticView } from "./semanticView.ts"

/** L1b: answers a question asked before in other words, within the same scope, from an HNSW index of embeddings. */
export class SemanticCache extends Context.Service<SemanticCache, {
  /**
   * `threshold`: the cosine below which nothing is served (`similarity_threshold`, or the request's header);
   * `undefined`, the decision's own floor. With `maxAgeMs` (`Cache-Control: max-age`), only entries at most that
   * old answer. The false-hit budget (`l1b_error_budget`, or the request's, tighter) decides a would-be hit.
   */
  readonly lookup: (
    request: ChatRequest,
    threshold: number | undefined,
    maxAgeMs?: number
  ) => Effect.Effect<SemanticHit, CacheMiss | LayerUnavailable>
  /** Stores an answer with what is known of it, for `ttlMs` or the configured TTL. */
  readonly store: (
    request: ChatRequest,
    completion: string,
    meta?: SemanticMeta,
    ttlMs?: number
  ) => Effect.Effect<void, LayerUnavailable>
  /** The id the entry for this request has (or would have); `undefined` when L1b does not take it. */
  readonly entryKey: (request: ChatRequest) => string | undefined
  /** The entry with this id in this replica's index (which mirrors Redis when shared). */
  readonly entry: (id: string) => SemanticEntry | undefined
  /** Removes an entry and its vectors, on every replica when shared; whether it was there. */
  readonly remove: (id: string) => Effect.Effect<boolean, LayerUnavailable>
  /**
   * A caller's word on an answer this entry gave: wrong, it stops answering other questions (its own question is
   * L1a's), on every replica when shared; whether the entry is there.
   */
  readonly feedback: (id: string, correct: boolean) => boolean
  readonly list: () => ReadonlyArray<SemanticEntry>
  readonly hits: (id: string) => number
  readonly status: Effect.Effect<SemanticCacheStatus>
}>()("isartor/SemanticCache") {
  static readonly layer = Layer.effect(
    SemanticCache,
    Effect.gen(function*() {
      const { digest } = yield* CacheKey
      const parts = yield* makeParts
      const { index, budget, lastServed, shared } = parts
      const viewOf = makeViews(digest)
      // Would-be hits not served, waiting for their request's fresh answer.
      const pending = new WeakMap<ChatRequest, Pending>()
      const reported = { wrong: 0, correct: 0 }
      /** A caller's word that an entry answered wrong: a wrong hit where it last answered, and it stops answering. */
      const reportWrong = (id: string) => {
        reported.wrong++
        const served = lastServed.get(id)
        if (served !== undefined) budget.observe(id, served.score, false, served.band)
        budget.stop(id)
      }
      return SemanticCache.of({
        lookup: makeLookup(parts, viewOf, digest, pending),
        store: makeStore(parts, viewOf, digest, pending),
        entryKey: (request) => {
          const view = viewOf(request)
          return typeof view === "string" ? undefined : digest({ scope: view.scope, text: view.text })
        },
        entry: (id) => index.byId(id),
        feedback: (id, correct) => {
          if (index.byId(id) === undefined) return false
          if (correct) reported.correct++
          else reportWrong(id)
          return true
        },
        remove: (id) =>
          Effect.suspend(() => {
            // Removing an entry that answered others is a caller's verdict on those answers: the same question
            // stored again does not answer others either.
            if (index.byId(id) !== undefined && index.hits(id) > 0) reportWrong(id)
            else budget.forget(id, true)
            const local = index.removeById(id)
            return Effect.map(shared.remove(id), (elsewhere) => local || elsewhere)
          }),
        list: () => index.snapshot().map(([, entry]) => entry),
        hits: (id) => index.hits(id),
        status: Effect.sync(() => statusOf(parts, reported))
      })
    })
  )

  /** L1b turned off (`cache_mode = exact`) or without a model: every lookup falls through, writes are dropped. */
  static readonly layerDisabled = (status: "disabled" | "unavailable", reason: string) =>
    Layer.succeed(
      SemanticCache,
      SemanticCache.of({
        lookup: () => Effect.fail(new LayerUnavailable({ layer: "l1b", reason })),
        store: () => Effect.void,
        entryKey: () => undefined,
        entry: () => undefined,
        remove: () => Effect.succeed(false),
        feedback: () => false,
        list: () => [],
        hits: () => 0,
        status: Effect.succeed({ status, reason })
      })
    )
}
