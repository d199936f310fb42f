/**
 * The admin JSON API beside `/admin/cache`: the overview, the usage ledger's reports, the last requests and live
 * events. Registered after the admin-key middleware (core/http/cache.ts) and only with an admin key: without one
 * these routes do not exist (404), and the gateway key does not open them (401).
 */
import { Effect, Exit } from "effect"
import type { Hono } from "hono"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { redactUrl, secretValues } from "../config/effectiveSettings.ts"
import { maskCredentials } from "../domain/credentials.ts"
import type { UsageWindow } from "../usage/UsageLedger.ts"
import { USAGE_BY, type UsageBy, type UsageRow } from "../usage/UsageRow.ts"
import { DAY_MS, HOUR_MS, overview, type OverviewSources } from "./adminOverview.ts"
import { familyError, jsonResponse } from "./errors.ts"

export interface AdminDependencies extends Omit<OverviewSources, "eventStreams"> {
  readonly run: <A, E>(effect: Effect.Effect<A, E>) => Promise<Exit.Exit<A, E>>
  /** Milliseconds between `overview` events and between pings on `/admin/events`. */
  readonly eventIntervals?: { readonly overviewMs: number; readonly pingMs: number }
  /** Aborted when the gateway stops (drains or is disposed): every event stream ends, and no new one starts. */
  readonly stopping?: AbortSignal
}

const MAX_REQUESTS = 1000
const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: HOUR_MS, d: DAY_MS, w: 7 * DAY_MS }

const badRequest = (message: string) => familyError("openai", 400, message, "invalid_request_error")

/** `24h`, `30m`, `7d` back from now, or an ISO 8601 time; `undefined` when it is neither. */
export const parseInstant = (text: string, now: number): number | undefined => {
  const back = /^(\d+)\s*([smhdw])$/.exec(text.trim())
  if (back) return now - Number(back[1]) * UNIT_MS[back[2]!]!
  if (!/^\d{4}-\d{2}-\d{2}/.test(text)) return undefined
  const at = Date.parse(text)
  return Number.isFinite(at) ? at : undefined
}

/** The window and grouping of `/admin/usage`; a message naming the parameter when one is malformed. */
const usageQuery = (query: Readonly<Record<string, string>>, now: number) => {
  const instant = (name: string, fallback: number) => {
    const text = query[name]
    if (text === undefined || text === "") return fallback
    return parseInstant(text, now) ??
      `${name}: expected an ISO 8601 time (2026-12-07T10:00:00Z) or a duration back from now (30m, 24h, 7d)`
  }
  const since = instant("since", now - DAY_MS)
  if (typeof since === "string") return since
  const until = instant("until", now + 1)
  if (typeof until === "string") return until
  if (since >= until) return "since: must be before until"
  const by = query.by === undefined || query.by === "" ? "model" : query.by
  if (!USAGE_BY.includes(by as UsageBy)) return `by: expected one of ${USAGE_BY.join(", ")}`
  return { window: { since, until } satisfies UsageWindow, by: by as UsageBy }
}

const limitOf = (text: string | undefined): number | string => {
  if (text === undefined || text === "") return 50
  const limit = Number(text)
  return Number.isInteger(limit) && limit >= 1 && limit <= MAX_REQUESTS
    ? limit
    : `limit: expected a whole number from 1 to ${MAX_REQUESTS}`
}

/** Masks the configured secrets and anything shaped like a credential, in the text `request_log_bodies` lets out. */
const credentialMask = (config: AppConfigShape) => {
  const secrets = secretValues(config)
  return (text: string) => maskCredentials(text, secrets)
}

/** A row as the admin API shows it: its text only with `request_log_bodies`, masked; never otherwise. */
const rowView = (config: AppConfigShape) => {
  const mask = credentialMask(config)
  return (row: UsageRow): UsageRow => {
    const { answer, question, ...metadata } = row
    if (!config.request_log_bodies) return metadata
    return {
      ...metadata,
      ...(question === undefined ? {} : { question: mask(question) }),
      ...(answer === undefined ? {} : { answer: mask(answer) })
    }
  }
}

/** The l2 status with any password in the sidecar's URL masked. */
const shownOverview = (sources: OverviewSources) =>
  Effect.map(overview(sources), (view) => {
    const l2 = view.l2 as { readonly sidecar?: string }
    return l2.sidecar === undefined ? view : { ...view, l2: { ...view.l2, sidecar: redactUrl(l2.sidecar) } }
  })

/** What one `/admin/events` stream reads: the ledger's rows as they come, the overview now and then. */
interface EventSources {
  readonly deps: AdminDependencies
  readonly overview: Effect.Effect<unknown>
  readonly shownRow: (row: UsageRow) => UsageRow
  /** The streams open now, for the overview to count. */
  readonly streams: { open: number }
}

/**
 * One live stream: each ledger row as an event, the overview every `overviewMs`, a ping every `pingMs`. It ends,
 * once, whichever comes first: the client going (cancel), a write that finds it closed, or the gateway stopping.
 */
const eventStream = ({ deps, overview, shownRow, streams }: EventSources) => {
  const intervals = deps.eventIntervals ?? { overviewMs: 5000, pingMs: 15_000 }
  const encoder = new TextEncoder()
  let stop = () => undefined as void
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text))
        } catch {
          stop()
        }
      }
      const event = (name: string, data: unknown) => send(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)
      const sendOverview = () =>
        void deps.run(overview).then((exit) => Exit.isSuccess(exit) && event("overview", exit.value))
      const unsubscribe = deps.usage.subscribe((row) => event("request", shownRow(row)))
      const timers = [
        setInterval(sendOverview, intervals.overviewMs),
        setInterval(() => send(": ping\n\n"), intervals.pingMs)
      ]
      streams.open++
      let stopped = false
      const ended = () => {
        stop()
        try {
          controller.close()
        } catch {
          // Closed already.
        }
      }
      stop = () => {
        if (stopped) return
        stopped = true
        unsubscribe()
        for (const timer of timers) clearInterval(timer)
        deps.stopping?.removeEventListener("abort", ended)
        streams.open--
      }
      deps.stopping?.addEventListener("abort", ended)
      send("retry: 3000\n\n")
      sendOverview()
    },
    cancel() {
      stop()
    }
  })
}

export const adminRoutes = (app: Hono, deps: AdminDependencies): void => {
  const streams = { open: 0 }
  const sources: OverviewSources = { ...deps, eventStreams: () => streams.open }
  const shownRow = rowView(deps.config)
  const unavailable = () =>
    familyError("openai", 503, "the usage ledger did not answer; try again", "ledger_unavailable")
  const answer = async <A>(effect: Effect.Effect<A>, respond: (value: A) => unknown) => {
    const exit = await deps.run(effect)
    return Exit.isSuccess(exit) ? jsonResponse(200, respond(exit.value)) : unavailable()
  }

  app.get("/admin/overview", () => answer(shownOverview(sources), (view) => view))

  app.get("/admin/usage", (c) => {
    const query = usageQuery(c.req.query(), deps.now())
    if (typeof query === "string") return badRequest(query)
    return answer(deps.usage.report(query.window, query.by), (report) => report)
  })

  app.get("/admin/requests", (c) => {
    const limit = limitOf(c.req.query("limit"))
    if (typeof limit === "string") return badRequest(limit)
    return answer(deps.usage.recent(limit), (rows) => ({ object: "list", data: rows.map(shownRow) }))
  })

  app.get("/admin/events", () => {
    if (deps.stopping?.aborted) {
      return familyError("openai", 503, "the gateway is stopping", "stopping")
    }
    const body = eventStream({ deps, overview: shownOverview(sources), shownRow, streams })
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" }
    })
  })
}
