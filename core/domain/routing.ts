import { Schema } from "effect"

/** L2's classes: tiered mode says TEMPLATE, SNIPPET or COMPLEX; binary mode SIMPLE or COMPLEX. */
export const Tier = Schema.Literals(["TEMPLATE", "SNIPPET", "SIMPLE", "COMPLEX"])
export type Tier = typeof Tier.Type

/** The labels of the shipped training prompts (tiered mode). */
export type TieredLabel = Exclude<Tier, "SIMPLE">

/** What classified a request: the small model, or the in-process embedding classifier. */
export const ClassifiedBy = Schema.Literals(["model", "embedding"])

/** What L2 decided about a request, kept on the answer for the response headers and for observability. */
export const RoutingDecision = Schema.Struct({
  tier: Tier,
  by: ClassifiedBy,
  /** The embedding classifier's probability for `tier`; the model classifier gives none. */
  confidence: Schema.optional(Schema.Number),
  /** `passed`, or why the local answer was rejected; absent when no local answer was tried. */
  guard: Schema.optional(Schema.String)
})
export type RoutingDecision = typeof RoutingDecision.Type

/** A classification alone: a decision before any local answer was tried. */
export type Classification = Omit<RoutingDecision, "guard">
