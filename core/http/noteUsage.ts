import type { Context as HonoContext } from "hono"
import type { UsageNote } from "../usage/recorder.ts"

/**
 * The request reached an answer path: the usage ledger will record it, its input estimated from `body` when the
 * answer carries no usage. `undefined` when the request has no exchange to note it on.
 */
export type NoteUsage = (
  c: HonoContext,
  tenant: string,
  modelAsked: string,
  stream: boolean,
  body: Readonly<Record<string, unknown>>
) => UsageNote | undefined
