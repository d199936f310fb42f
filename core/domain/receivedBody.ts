import { Exit } from "effect"
import type { BadRequest } from "./errors.ts"
import { parseJsonBody } from "./jsonBody.ts"
import { parseJsonBytes } from "./jsonBytes.ts"

/** A request body as the edge read it: its text, and for a large one the bytes it came as (sent on as they are). */
export interface ReceivedBody {
  readonly text: string
  readonly bytes?: Uint8Array<ArrayBuffer> | undefined
}

/** A body the edge kept as bytes. */
export type ReceivedBytes = ReceivedBody & { readonly bytes: Uint8Array<ArrayBuffer> }

const utf8 = new TextDecoder()

/**
 * A large body kept as bytes, its text decoded the first time something reads it (`Request.text()`'s decoding: a
 * leading byte-order mark is cut before). A coding agent's body is parsed in pieces (`parseJsonBytes`), keyed from
 * its bytes and sent on as them: nothing on that path reads its text, so it is never decoded whole.
 */
export const receivedAsBytes = (bytes: Uint8Array<ArrayBuffer>): ReceivedBytes => {
  let text: string | undefined
  return {
    bytes,
    get text() {
      return text ??= utf8.decode(bytes)
    }
  }
}

/**
 * A received body parsed: from its bytes in pieces when it has them, else (or when that gives up) its text whole.
 * `inPieces: false` (see `GatewayOptions.parseInPieces`) parses kept bytes whole, decoded for the parse alone: the
 * body's text is not kept.
 */
export const parseReceived = (received: ReceivedBody, inPieces = true): Exit.Exit<unknown, BadRequest> => {
  if (received.bytes === undefined) return parseJsonBody(received.text)
  const parsed = inPieces ? parseJsonBytes(received.bytes) : undefined
  return parsed === undefined ? parseJsonBody(utf8.decode(received.bytes)) : Exit.succeed(parsed.value)
}

/** Whether the edge kept a body's bytes (a large one). */
export const hasBytes = (received: ReceivedBody): received is ReceivedBytes => received.bytes !== undefined
