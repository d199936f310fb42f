import type { LayerName } from "../domain/Answer.ts"
import type { UsageNote } from "../usage/recorder.ts"
import type { UsageFamily, UsageLayer } from "../usage/UsageRow.ts"

const GEMINI_GENERATE = [
  "/v1beta/models/{model}:generateContent",
  "/v1beta/models/{model}:streamGenerateContent",
  "/v1/models/{model}:generateContent",
  "/v1/models/{model}:streamGenerateContent"
]

/** The ledger's name of the client format a route serves. */
const FAMILIES: Readonly<Record<string, UsageFamily>> = {
  "/v1/chat/completions": "chat",
  "/v1/messages": "messages",
  "/v1/responses": "responses",
  "/v1/embeddings": "embeddings",
  "/v1/completions": "completions",
  "/api/chat": "ollama",
  ...Object.fromEntries(GEMINI_GENERATE.map((route) => [route, "gemini" as const]))
}

/** The usage ledger's recorder: a note, and how its answer went out (see `UsageLedger.recordNote`). */
export type RecordUsage = (
  note: UsageNote,
  family: UsageFamily,
  layer: UsageLayer,
  provider: string,
  status: number,
  latencyMs: number
) => void

/**
 * A request that reached an answer, handed to the usage ledger — at once, or once its stream has ended — with how
 * its answer went out (as arguments: nothing allocated). A failure no layer answered (a refusal, an upstream error)
 * is recorded as what it is: at L3 when a provider was asked, else with no layer (`"none"`).
 */
export const recordSent = (
  recordUsage: RecordUsage,
  exchange: { readonly route: string; readonly label: string | undefined },
  note: UsageNote,
  layer: LayerName | undefined,
  provider: string | undefined,
  status: number,
  seconds: number
) => {
  const family = FAMILIES[exchange.route] ?? note.family ?? "chat"
  const answered = layer ?? note.layer ?? (status < 400 || provider !== undefined ? "l3" : "none")
  if (exchange.label !== undefined) note.label = exchange.label
  // A stream is recorded when it has ended, with the usage its last event carried.
  if (note.ended === undefined) recordUsage(note, family, answered, provider ?? "", status, seconds * 1000)
  else note.ended.then(() => recordUsage(note, family, answered, provider ?? "", status, seconds * 1000))
}
