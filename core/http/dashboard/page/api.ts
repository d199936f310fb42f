/**
 * The page's one way to the gateway: the admin routes, with the admin key as a bearer token, and the live events read
 * from a fetched stream (see sse.ts). A refused key ends the session; anything else is an `ApiError` to show.
 */
import { type ServerEvent, sseReader } from "./sse.ts"

/** The admin key was refused (401): the page signs out. */
export class Refused extends Error {}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
  }
}

/** Where the gateway's routes are: the page's own path without `/dashboard`, so a path prefix in front still works. */
export const basePath = (pathname: string): string => pathname.replace(/\/dashboard\/?$/, "")

const messageOf = async (response: Response): Promise<string> => {
  const body = await response.json().catch(() => undefined) as { error?: { message?: unknown } } | undefined
  const message = body?.error?.message
  return typeof message === "string" ? message : `${response.status} ${response.statusText}`
}

export interface Api {
  readonly get: <A>(path: string) => Promise<A>
  readonly send: <A>(method: "POST" | "DELETE", path: string, body?: unknown) => Promise<A>
  /** Reads `/admin/events` until `signal` aborts, reconnecting after a pause when the stream ends or fails. */
  readonly events: (handlers: EventHandlers, signal: AbortSignal) => Promise<void>
}

export interface EventHandlers {
  readonly event: (event: ServerEvent) => void
  readonly connected: () => void
  readonly disconnected: (reason: string) => void
  readonly refused: () => void
}

const pause = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener("abort", () => {
      clearTimeout(timer)
      resolve()
    }, { once: true })
  })

export const makeApi = (base: string, adminKey: string): Api => {
  const headers = { authorization: `Bearer ${adminKey}` }
  const call = async <A>(path: string, init: RequestInit): Promise<A> => {
    const response = await fetch(`${base}${path}`, { ...init, cache: "no-store" })
    if (response.status === 401) throw new Refused(await messageOf(response))
    if (!response.ok) throw new ApiError(response.status, await messageOf(response))
    return await response.json() as A
  }
  return {
    get: (path) => call(path, { headers }),
    send: (method, path, body) =>
      call(path, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      }),
    events: async (handlers, signal) => {
      let delayMs = 1000
      while (!signal.aborted) {
        let reason = "the live stream ended"
        try {
          const response = await fetch(`${base}/admin/events`, {
            headers: { ...headers, accept: "text/event-stream" },
            cache: "no-store",
            signal
          })
          if (response.status === 401) return handlers.refused()
          if (!response.ok || response.body === null) throw new ApiError(response.status, await messageOf(response))
          handlers.connected()
          delayMs = 1000
          const feed = sseReader(handlers.event)
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
          for (;;) {
            const { done, value } = await reader.read()
            if (done) break
            feed(value)
          }
        } catch (error) {
          if (signal.aborted) return
          reason = error instanceof Error ? error.message : String(error)
        }
        handlers.disconnected(reason)
        await pause(delayMs, signal)
        delayMs = Math.min(delayMs * 2, 30_000)
      }
    }
  }
}
