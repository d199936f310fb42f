import { Redacted } from "effect"
import process from "node:process"
import { scrub } from "../core/transport/http.ts"
import { logError } from "./log.ts"

const events = ["uncaughtException", "unhandledRejection"] as const

/**
 * The gateway owns its process's last-chance error handlers: an error no request caught (a stream torn down under
 * a client that left) is written as one line in the gateway's log format and the gateway keeps serving the others. Handlers a library set (the
 * WASM runtime under USE-lite rethrows from its own, which ends the process) are removed first, and any added
 * later are removed as they come. Node's `process` events work the same on Bun and Deno.
 */
export const ownProcessErrors = (): void => {
  const report = (error: unknown) => {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
    // The first line only, scrubbed: a stray error may quote whatever it was handling.
    logError(`error outside any request, ignored: ${scrub(text.split("\n")[0]!, Redacted.make(""))}`)
  }
  const ours = new Set<(...args: Array<any>) => void>([report])
  for (const event of events) {
    process.removeAllListeners(event)
    process.on(event, report)
  }
  process.on("newListener", (event: string | symbol, listener: (...args: Array<any>) => void) => {
    if (!events.includes(event as typeof events[number]) || ours.has(listener)) return
    // Removed once it is in: `newListener` runs before the listener is added.
    queueMicrotask(() => process.removeListener(event, listener))
  })
}
