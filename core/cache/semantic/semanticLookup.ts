import { Effect } from "effect"
import type { AppConfigShape } from "../../config/ConfigSpec.ts"
import type { ChatRequest } from "../../domain/ChatRequest.ts"
import { CacheMiss, LayerUnavailable } from "../../domain/errors.ts"
import type { ErrorBudget } from "./decision/ErrorBudget.ts"
import { sameAnswer } from "./decision/sameAnswer.ts"
import type { WouldBeHit } from "./decision/SemanticDecision.ts"
import type { Candidate, SemanticEntry, SemanticMeta } from "./LabelledIndex.ts"
import type { Parts } from "./semanticParts.ts"
import { semanticView } from "./semanticView.ts"

export interface SemanticHit {
  readonly completion: string
  /** The entry that answered, and when it was stored (absent for entries older than the metadata). */
  readonly id: string
  readonly created?: number | undefined
  readonly similarity: number
  /** The learned decision's score for the pair (question, cached question), when a decision model decided. */
  readonly score?: number | undefined
  /** Which stage found it: the fast static encoder, or the full model. */
  readonly stage: "fast" | "model"
}

/** Built once: a miss is the common outcome, and an error built per miss costs it a stack trace. */
const missedL1b = Effect.fail(new CacheMiss({ layer: "l1b" }))

/** The budget a request is held to: `l1b_error_budget`, or its header's when tighter; 1 turns the budget off. */
export const budgetOf = (config: AppConfigShape, request: ChatRequest): number =>
  Math.min(config.l1b_error_budget, request.l1bErrorBudget ?? 1)

/** A would-be hit not served: the fresh answer to its request labels it when the request's answer is stored. */
export interface PendingLabel {
  readonly entry: string
  readonly completion: string
  readonly score: number
  readonly band: string
}

/** A request's would-be hits not served (one per stage that had one), labelled together by its fresh answer. */
export type Pending = ReadonlyArray<PendingLabel>

/** Where a lookup ended: at a would-be hit the budget serves, or at one it sends upstream to be checked. */
interface Ended {
  readonly found: WouldBeHit
  readonly serve: boolean
}

/**
 * The budget's side of a lookup: a would-be hit is served, explored (sent upstream, labelled by the fresh answer:
 * the lookup ends there) or withheld (labelled too, as its request goes upstream unless a later stage serves it;
 * `undefined`: the next stage looks). A refusal never ends the lookup, so a stricter floor, which moves a would-be
 * hit from the fast stage to the full model's, can never add a hit.
 */
const budgeted = (
  budget: ErrorBudget,
  pending: WeakMap<ChatRequest, Pending>,
  request: ChatRequest,
  limit: number,
  bandOf: (found: WouldBeHit) => string
) =>
(found: WouldBeHit): Ended | undefined => {
  const band = bandOf(found)
  const verdict = budget.decide(found.candidate.entry.id, found.score, limit, band)
  if (verdict._tag === "Serve") return { found, serve: true }
  // Without a budget nothing is learnt from a withheld hit.
  if (limit < 1) {
    const label = { entry: found.candidate.entry.id, completion: found.candidate.entry.completion, band, ...found }
    pending.set(request, [...(pending.get(request) ?? []), label])
  }
  return verdict._tag === "Explore" ? { found, serve: false } : undefined
}

/**
 * The band a would-be hit is counted in: its scope's (tenants never share counts), at its stage (the cosine
 * decision's fast stage scores with another encoder than its full model: the same cosine is not the same evidence).
 */
export const bandOf = (digest: (value: unknown) => string, scope: string, stage: WouldBeHit["stage"]) =>
  `${stage}:${digest(scope)}`

/** Looking up: the decision's would-be hit, kept for this caller (age), then the budget, then Redis's word. */
export const makeLookup = (
  parts: Parts,
  viewOf: ViewOf,
  digest: (value: unknown) => string,
  pending: WeakMap<ChatRequest, Pending>
) => {
  const { config, index, now, decision, budget, lastServed, shared } = parts
  /** Too old for this caller (or of unknown age): skipped for it, kept for others. */
  const youngEnough = (maxAgeMs: number | undefined) => (candidate: Candidate) => {
    if (maxAgeMs === undefined) return true
    const created = candidate.entry.meta?.created
    return created !== undefined && now() - created <= maxAgeMs
  }
  const serve = (found: WouldBeHit): SemanticHit => {
    index.served(found.candidate.label)
    const entry = found.candidate.entry
    const { similarity } = found.candidate
    const { learnedScore: score, stage } = found
    return { completion: entry.completion, id: entry.id, created: entry.meta?.created, similarity, score, stage }
  }
  return (request: ChatRequest, threshold: number | undefined, maxAgeMs?: number) =>
    Effect.suspend(() => {
      const view = viewOf(request)
      if (typeof view === "string") return Effect.fail(new LayerUnavailable({ layer: "l1b", reason: view }))
      index.purgeExpired(now())
      const band = (found: WouldBeHit) => bandOf(digest, view.scope, found.stage)
      const judge = budgeted(budget, pending, request, budgetOf(config, request), band)
      return decision.find(request, view, threshold, youngEnough(maxAgeMs), judge).pipe(
        Effect.flatMap((ended): Effect.Effect<SemanticHit, CacheMiss | LayerUnavailable> => {
          if (ended === undefined || !ended.serve) return missedL1b
          const { found } = ended
          return Effect.flatMap(shared.stillHeld(found.candidate), (held) => {
            if (!held) return missedL1b
            lastServed.set(found.candidate.entry.id, { band: band(found), score: found.score })
            return Effect.succeed(serve(found))
          })
        })
      )
    })
}

/** What L1b reads of a request (three digests), worked out once: the lookup, the entry's key and the store ask. */
export const makeViews = (digest: (value: unknown) => string) => {
  const views = new WeakMap<ChatRequest, ReturnType<typeof semanticView>>()
  return (request: ChatRequest) => {
    let view = views.get(request)
    if (view === undefined) views.set(request, view = semanticView(request, digest))
    return view
  }
}
export type ViewOf = ReturnType<typeof makeViews>

/** Storing an upstream answer: first the label it gives a would-be hit its request did not serve, then the entry. */
export const makeStore = (
  parts: Parts,
  viewOf: ViewOf,
  digest: (value: unknown) => string,
  pending: WeakMap<ChatRequest, Pending>
) => {
  const { index, now, decision, budget, shared, encoder, learned } = parts
  return (request: ChatRequest, completion: string, meta?: SemanticMeta, ttlMs?: number) =>
    Effect.gen(function*() {
      const labels = pending.get(request)
      if (labels !== undefined) {
        pending.delete(request)
        for (const label of labels) {
          budget.observe(label.entry, label.score, sameAnswer(completion, label.completion), label.band)
        }
      }
      const view = viewOf(request)
      if (typeof view === "string") return
      const vector = yield* decision.vectorFor(request, view.text)
      const entry: SemanticEntry = {
        id: digest({ scope: view.scope, text: view.text }),
        ...view,
        completion,
        meta,
        encoder,
        ...(learned ? { decision: learned.model.version } : {})
      }
      // It expires when its metadata says, however long the insert waited behind the answer (a clock a test
      // moves may have moved meanwhile).
      const lifetimeMs = meta ? meta.expires - now() : ttlMs
      if (lifetimeMs !== undefined && lifetimeMs <= 0) return
      const failure = index.insert(entry, vector, decision.fastVectorOf(request), lifetimeMs)
      // Reported as a dropped write: counted, and warned about at most once per interval.
      if (failure !== undefined) {
        return yield* new LayerUnavailable({ layer: "l1b", reason: `the index refused the entry: ${failure}` })
      }
      decision.stored(request, entry)
      budget.stored(entry.id)
      yield* shared.put(entry, vector, lifetimeMs)
    })
}
