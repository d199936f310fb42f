// The request decoders with their schemas interpreted, in a thread of their own (the compiled ones are registered
// per schema for the whole thread): answers `decoderJit.test.ts`'s bodies one message at a time.
import { parentPort } from "node:worker_threads"
import { interpretDecoders } from "../../core/domain/requestSchemas.ts"
import { type DecoderKind, loadDecoders } from "./decoderOutcomes.ts"

interpretDecoders()
const outcomeOf = await loadDecoders()
parentPort!.on("message", (asked: { readonly kind: DecoderKind; readonly body: unknown }) => {
  parentPort!.postMessage(outcomeOf(asked.kind, asked.body))
})
parentPort!.postMessage("ready")
