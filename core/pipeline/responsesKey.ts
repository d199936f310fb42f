import { type CacheKey, DELIVERY_FIELDS, type ExactKey, type SentBody, withoutDelivery } from "../cache/CacheKey.ts"
import type { CutRule } from "../cache/keyedBytes.ts"
import type { SourceRequest } from "../domain/ChatRequest.ts"
import { unchangedBytes } from "../domain/SourceRequest.ts"
import type { ResponsesSource } from "../providers/shared/ProviderDefinition.ts"

/** A Responses body as the route passed it on: with the bytes it came as when the edge kept them (a large one). */
export type KeyedResponsesSource = ResponsesSource & { readonly received?: SourceRequest["received"] }

/** Input item types that carry all they say: their `id` only names them, and Codex numbers them anew each run. */
const CARRIES_ITS_CONTENT: ReadonlySet<string> = new Set([
  "function_call",
  "function_call_output",
  "custom_tool_call",
  "custom_tool_call_output"
])

/**
 * Whether an input item says the same whatever its `id`: a message (typed or only a `role`), a function or custom
 * tool's call or output, a reasoning item carrying its `encrypted_content`. Any other keeps its id in the key: an
 * `item_reference` (`{"id"}` alone too) is nothing but its id, a reasoning item without `encrypted_content` names
 * the stored reasoning meant, and an item type not listed here may stand for what the upstream holds under it.
 */
const idOnlyNames = (item: Readonly<Record<string, unknown>>): boolean => {
  const type = item.type
  if (type === undefined || type === "message") return item.role !== undefined && item.content !== undefined
  if (type === "reasoning") return typeof item.encrypted_content === "string"
  return typeof type === "string" && CARRIES_ITS_CONTENT.has(type)
}

const isObject = (item: unknown): item is Readonly<Record<string, unknown>> =>
  typeof item === "object" && item !== null && !Array.isArray(item)

/**
 * What of a Responses body can change the answer: not how it is delivered or filed (`withoutDelivery`), nor the ids
 * a client gives the input items that carry their own content.
 */
const keyedBody = (body: Readonly<Record<string, unknown>>) => {
  const fields = withoutDelivery(body)
  if (!Array.isArray(fields.input)) return fields
  return {
    ...fields,
    input: (fields.input as Array<unknown>).map((item) => {
      if (!isObject(item) || !("id" in item) || !idOnlyNames(item)) return item
      const { id: _id, ...rest } = item
      return rest
    })
  }
}

/** What `keyedBody` leaves out of a body none of whose input items keeps its id, cut from its bytes. */
const KEYED_CUT: CutRule = { names: DELIVERY_FIELDS, inArrays: { input: { names: new Set(["id"]) } } }

/**
 * The bytes a body goes upstream as, while they are still its text (no alias rewrote it) and the cut, which takes
 * `id` from every input item, leaves out no more than `keyedBody`: a body with an item whose id counts (an item
 * reference, say) is keyed from its parsed body instead.
 */
const sentOf = (source: KeyedResponsesSource): SentBody | undefined => {
  const bytes = unchangedBytes(source)
  if (bytes === undefined) return undefined
  const input = source.body.input
  const keepsAnId = Array.isArray(input) && input.some((item) => isObject(item) && "id" in item && !idOnlyNames(item))
  return keepsAnId ? undefined : { bytes, cut: KEYED_CUT }
}

/** The exact key of a Responses body passed through to its upstream. */
export const responsesKey = (cacheKey: CacheKey["Service"], tenant: string, source: KeyedResponsesSource): ExactKey =>
  cacheKey.exactKey({ family: "responses-upstream", tenant, body: keyedBody(source.body), sent: sentOf(source) })
