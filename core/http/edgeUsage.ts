import type { LayerName } from "../domain/Answer.ts"
import type { Sent, UsageNote } from "../usage/recorder.ts"
import type { UsageFamily } from "../usage/UsageRow.ts"

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

/** A request that reached an answer, handed to the usage ledger: at once, or once its stream has ended. */
export const recordSent = (
  recordUsage: (note: UsageNote, sent: Sent) => void,
  exchange: { readonly route: string; readonly label: string | undefined },
  note: UsageNote,
  layer: LayerName | undefined,
  provider: string | undefined,
  status: number,
  seconds: number
) => {
  const sent: Sent = {
    family: FAMILIES[exchange.route] ?? note.family ?? "chat",
    layer: layer ?? note.layer ?? "l3",
    provider: provider ?? "",
    status,
    latencyMs: seconds * 1000,
    stream: note.stream === true
  }
  if (exchange.label !== undefined) note.label = exchange.label
  // A stream is recorded when it has ended, with the usage its last event carried.
  if (note.ended === undefined) recordUsage(note, sent)
  else note.ended.then(() => recordUsage(note, sent))
}
