import { Context } from "effect"
import { ProviderError } from "../domain/errors.ts"
import { BodyTooLarge, guardedStream, MAX_ERROR_BODY_BYTES, readBounded, type TransportLimits } from "./bounds.ts"
import { type Fail, reasonFor, retryAfterMs, upstreamMessage } from "./failures.ts"

/** What the providers call upstream with: `fetch`'s shape, for the kinds of call they make (a POST; a GET to check). */
export type UpstreamFetchFunction = (
  url: string,
  init: {
    method: string
    headers: Record<string, string>
    /** Absent for a GET; bytes when the client's own are passed through. */
    body: string | Uint8Array<ArrayBuffer> | undefined
    signal: AbortSignal
    /** Never followed: a redirect is the upstream's answer, and the prompt goes nowhere else. */
    redirect: "manual"
  }
) => Promise<Response>

/**
 * The upstream calls' `fetch`: the global one, unless the runtime injects another (runtimes/node.ts gives undici's
 * pooled `request`: Node 20's `fetch` cost a miss more than everything else the gateway does).
 */
export const UpstreamFetch = Context.Reference<UpstreamFetchFunction>("isartor/UpstreamFetch", {
  defaultValue: () => (url, init) => fetch(url, init)
})

/** An upstream's answer as the transport hands it on: its whole body, read within bounds, or its guarded stream. */
export interface UpstreamReply {
  readonly status: number
  readonly headers: Headers
  readonly body: string | ReadableStream<Uint8Array>
}

/** A redirect's target host, for the message: where the upstream wanted the prompt to go. */
const redirectTarget = (headers: Headers, url: string): string => {
  const location = headers.get("location")
  if (location === null) return "no location"
  return URL.canParse(location, url) ? new URL(location, url).host : "an unreadable location"
}

export const tooLarge = (fail: Fail, limits: TransportLimits, status: number) =>
  fail("Refused", `upstream answer is larger than ${limits.maxBodyBytes} bytes (max_upstream_body_bytes)`, {
    upstreamStatus: status
  })

/** What is refused of an answer before a byte of its body is read: a redirect, a compressed body. */
const refusalOf = (response: Response, url: string, fail: Fail): ProviderError | undefined => {
  const { status } = response
  if (status >= 300 && status < 400) {
    return fail(
      "Refused",
      `upstream answered ${status}, a redirect to ${
        redirectTarget(response.headers, url)
      }; redirects are not followed: set the provider's URL to where it points`,
      { upstreamStatus: status }
    )
  }
  const encoding = (response.headers.get("content-encoding") ?? "identity").trim().toLowerCase()
  if (encoding === "identity" || encoding === "") return undefined
  return fail(
    "Refused",
    `upstream answered with content-encoding ${encoding}, though the gateway asked for identity; compressed answers are not inflated`,
    { upstreamStatus: status }
  )
}

/** An answer as the transport hands it on: refused, failed, streamed (guarded) or read whole, each within its bound. */
const answerOf = async (
  response: Response,
  url: string,
  limits: TransportLimits,
  fail: Fail,
  abort: (reason: Error) => void
): Promise<UpstreamReply> => {
  const { status } = response
  const refused = refusalOf(response, url, fail)
  if (refused) {
    await response.body?.cancel().catch(() => undefined)
    throw refused
  }
  if (!response.ok) {
    const text = await readBounded(response.body, MAX_ERROR_BODY_BYTES, "truncate")
    const retryAfter = retryAfterMs(response.headers)
    throw fail(reasonFor(status, text), upstreamMessage(text, status, response.statusText), {
      upstreamStatus: status,
      ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {})
    })
  }
  if (response.body !== null && (response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
    return { status, headers: response.headers, body: guardedStream(response.body, limits, abort) }
  }
  const text = await readBounded(response.body, limits.maxBodyBytes, "fail").catch((error: unknown) => {
    throw error instanceof BodyTooLarge ? tooLarge(fail, limits, status) : error
  })
  return { status, headers: response.headers, body: text }
}

/**
 * One call: asks for identity and no redirect, within `timeoutMs` until the answer is read whole or its stream has
 * begun (then the stream's own idle bound takes over); a request abandoned by its client aborts it.
 */
export const callUpstream = async (
  upstreamFetch: UpstreamFetchFunction,
  call: {
    readonly url: string
    readonly headers: Record<string, string>
    readonly payload: string | Uint8Array<ArrayBuffer> | undefined
  },
  interrupted: AbortSignal,
  limits: TransportLimits,
  fail: Fail
): Promise<UpstreamReply> => {
  const controller = new AbortController()
  // The request was abandoned (its client left): so is the call, and the upstream's socket with it.
  interrupted.addEventListener("abort", () => controller.abort(), { once: true })
  let timedOut = false
  const deadline = setTimeout(() => {
    timedOut = true
    controller.abort()
  }, limits.timeoutMs)
  try {
    const response = await upstreamFetch(call.url, {
      method: call.payload === undefined ? "GET" : "POST",
      // `identity`: an answer the gateway reads is never inflated past what it can bound.
      headers: {
        ...(call.payload === undefined ? {} : { "content-type": "application/json" }),
        ...call.headers,
        "accept-encoding": "identity"
      },
      body: call.payload,
      signal: controller.signal,
      redirect: "manual"
    })
    return await answerOf(response, call.url, limits, fail, (reason) => controller.abort(reason))
  } catch (error) {
    if (error instanceof ProviderError) throw error
    if (timedOut) throw fail("Timeout", `no answer within ${limits.timeoutMs / 1000} s`)
    throw fail(
      "Unreachable",
      `cannot reach ${URL.canParse(call.url) ? new URL(call.url).host : call.url}: ${
        error instanceof Error
          ? (error.cause instanceof Error ? error.cause.message : error.message)
          : String(error)
      }`
    )
  } finally {
    clearTimeout(deadline)
  }
}
