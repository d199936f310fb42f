import { Schema } from "effect"
import type { RoutingDecision } from "./routing.ts"

/** The layers, in the order a request meets them: L1a (exact cache), L1b (semantic cache), L2 (router), L3 (cloud). */
export const LAYER_NAMES = ["l1a", "l1b", "l2", "l3"] as const

export const LayerName = Schema.Literals(LAYER_NAMES)
export type LayerName = typeof LayerName.Type

/** A `[routing]` rule's answer: the tier it matched, who answered, and who would have by default (for the saving). */
export interface RoutedBy {
  readonly tier: string
  /** `provider/model` of the rule's target, which answered. */
  readonly to: string
  readonly from: { readonly provider: string; readonly model: string }
}

/** What the pipeline answers with: a whole completion (serialised), or an upstream stream passed through. */
export type Answer =
  | {
    readonly _tag: "Complete"
    readonly layer: LayerName
    readonly completion: string
    readonly provider?: string
    /** The cache entry that answered, or that this answer was stored under (`X-Isartor-Cache-Key`). */
    readonly cacheKey?: string
    /** On a cache hit: when the entry was stored (ms since the epoch), for the `Age` header. */
    readonly created?: number | undefined
    /** On an L1b hit: the cosine similarity of the cached question. */
    readonly similarity?: number
    /** On an L1b hit: the learned decision's score for (question, cached question), when a decision model decided. */
    readonly score?: number | undefined
    /** On an L1b hit: which stage found it (the fast static encoder or the full model). */
    readonly stage?: "fast" | "model"
    /** When L2 classified the request: what it decided. */
    readonly routing?: RoutingDecision
    readonly routed?: RoutedBy | undefined
    /** From L3: the prompt tokens the context optimiser kept from the provider (`X-Isartor-Context-Saved`). */
    readonly contextSaved?: number | undefined
  }
  | {
    readonly _tag: "Stream"
    readonly layer: "l3"
    readonly body: ReadableStream<Uint8Array>
    readonly provider: string
    readonly cacheKey?: string
    readonly routing?: RoutingDecision
    readonly routed?: RoutedBy | undefined
    readonly contextSaved?: number | undefined
  }
