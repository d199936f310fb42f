import { Context, Exit, Option, Tracer } from "effect"
import type { LayerName } from "../domain/Answer.ts"
import { layerLabel } from "../observability/Metrics.ts"
import { nowNanos, type RequestSpan } from "../observability/RequestSpan.ts"
import type { PassThroughOrigin } from "../providers/passThrough/PassThrough.ts"
import type { UsageNote } from "../usage/recorder.ts"
import { metricsEndpoint, requestSeriesTable } from "./edgeMetrics.ts"
import type { EdgeOptions } from "./edgeOptions.ts"
import { answerSpan, endingWith, streamed, withTraceId } from "./edgeSpans.ts"
import { recordSent } from "./edgeUsage.ts"

/** The app behind the edge, given the request's path (`pathOf` of its URL), which the edge has read already. */
export type EdgeFetch = (request: Request, path: string, exchange: Exchange) => Response | Promise<Response>

export type { EdgeOptions, RequestRecord } from "./edgeOptions.ts"

/** Routes are labels as they are; anything else is "other", so a scanner cannot grow the series without bound. */
const ROUTES = new Set([
  "/v1/chat/completions",
  "/v1/messages",
  "/v1/messages/count_tokens",
  "/v1/responses",
  "/v1/embeddings",
  "/v1/completions",
  "/api/chat",
  "/v1/models",
  "/v1beta/models",
  "/health",
  "/healthz",
  "/metrics"
])
/** A request URL's path as sent (not decoded), without its query. */
export const pathOf = (url: string): string => {
  const start = url.indexOf("/", url.indexOf("//") + 2)
  const end = url.indexOf("?", start)
  return start < 0 ? "/" : url.slice(start, end < 0 ? undefined : end)
}
/** Gemini's API names the model in the path: its routes are labelled with `{model}` in its place. */
const GEMINI_ROUTE = /^\/(v1beta|v1)\/models\/[^/]+:(generateContent|streamGenerateContent|countTokens)$/
const routeOf = (path: string) => {
  if (ROUTES.has(path)) return path
  const gemini = GEMINI_ROUTE.exec(path)
  return gemini === null ? "other" : `/${gemini[1]}/models/{model}:${gemini[2]}`
}

const LAYERS = new Set(["l1a", "l1b", "l2", "l3"])

/** `traceparent: 00-<trace id>-<span id>-<flags>` (W3C Trace Context), or none when malformed or all zeros. */
export const parseTraceparent = (header: string | null): Tracer.ExternalSpan | undefined => {
  const found = header === null ? null : /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header.trim())
  if (!found || /^0+$/.test(found[1]!) || /^0+$/.test(found[2]!)) return undefined
  return Tracer.externalSpan({
    traceId: found[1]!,
    spanId: found[2]!,
    sampled: (Number.parseInt(found[3]!, 16) & 1) === 1
  })
}

/**
 * One request in flight at the edge, carried explicitly to whatever answers it: when it arrived, where it goes, its
 * trace (with traces on, `tracer` is set: the pipeline opens the `gateway.request` span through it once a request
 * misses L1a), and which layer answered when the answerer says so itself (the exact-hit lane) rather than in headers
 * the edge would read back. Allocated for every request, so it holds plain fields and its methods live on the
 * prototype.
 */
export class Exchange implements RequestSpan {
  span: Tracer.Span | undefined = undefined
  answered: Answered | undefined = undefined
  /** Set by whatever answered once the request reached an answer: what the usage ledger records of it. */
  usage: UsageNote | undefined = undefined
  /** The label of the named gateway key the caller presented, when it did (see `gateway_keys`). */
  label: string | undefined = undefined
  /** Where a request `isartor proxy` read was going: its L3 is that host (see `Gateway.passThrough`). */
  passThrough: PassThroughOrigin | undefined = undefined
  constructor(
    readonly arrived: number,
    readonly method: string,
    readonly route: string,
    readonly tracer: Tracer.Tracer | undefined,
    readonly traceparent: string | null
  ) {}

  /** The request failed with a defect: its span (when open) ends with it, and the defect goes on. */
  died(error: unknown): never {
    this.span?.end(nowNanos(), Exit.die(error))
    throw error
  }

  /**
   * Opens the request's span, back-dated to its arrival, with its `l1a.lookup` child: one that missed (the pipeline
   * opens it then), or one that hit (the edge opens it once the answer is in hand: from arrival to answer, the hit's
   * whole work — body, key, lookup). Nothing without a tracer.
   */
  open(l1aStartedAt: bigint, result: "miss" | "hit" = "miss"): Tracer.Span | undefined {
    if (this.span || this.tracer === undefined) return this.span
    const parent = parseTraceparent(this.traceparent)
    const span = spanOf(this.tracer, "gateway.request", parent, toNanos(this.arrived), "server")
    span.attribute("http.request.method", this.method)
    span.attribute("http.route", this.route)
    const lookup = spanOf(this.tracer, "l1a.lookup", span, l1aStartedAt, "internal")
    lookup.attribute("isartor.l1a.result", result)
    lookup.end(nowNanos(), Exit.void)
    this.span = span
    return span
  }
}

/** Which layer and provider answered, as `X-Isartor-Layer` and `X-Isartor-Provider` say it. */
export interface Answered {
  readonly layer: LayerName
  readonly provider: string | undefined
}

const toNanos = (performanceNow: number) => BigInt(Math.round((performance.timeOrigin + performanceNow) * 1_000_000))

const spanOf = (
  tracer: Tracer.Tracer,
  name: string,
  parent: Tracer.AnySpan | undefined,
  startTime: bigint,
  kind: Tracer.SpanKind
): Tracer.Span =>
  tracer.span({
    name,
    parent: parent ? Option.some(parent) : Option.none(),
    annotations: Context.empty(),
    links: [],
    startTime,
    kind,
    root: parent === undefined,
    sampled: parent?.sampled ?? true
  })

/** Counts, logs, and hands to the usage ledger each answered request; a traced exact hit gets its span here. */
const recorder = (options: EdgeOptions) => {
  const { recordUsage, logRequest } = options
  const seriesFor = requestSeriesTable(options.context)
  return (exchange: Exchange, response: Response) => {
    const seconds = (performance.now() - exchange.arrived) / 1000
    const route = exchange.route
    // The exact-hit lane says which layer answered; any other answer says it in its headers.
    const answered = exchange.answered
    const header = answered === undefined ? response.headers.get("x-isartor-layer") : answered.layer
    const layer = header !== null && LAYERS.has(header) ? header as LayerName : undefined
    const finalLayer = layer === undefined ? undefined : layerLabel[layer]
    // Traced, an exact hit (answered without the pipeline opening a span) gets its span here, once it is answered.
    const span = exchange.span ?? (layer === "l1a" ? exchange.open(toNanos(exchange.arrived), "hit") : undefined)
    const series = seriesFor(route, exchange.method, response.status, finalLayer)
    series.http(1)
    series.duration(seconds)
    series.requests?.(1)
    const provider = answered === undefined
      ? response.headers.get("x-isartor-provider") ?? undefined
      : answered.provider
    if (span !== undefined) answerSpan(span, response, finalLayer, provider)
    const note = exchange.usage
    if (note !== undefined && recordUsage !== undefined) {
      recordSent(recordUsage, exchange, note, layer, provider, response.status, seconds)
    }
    logRequest?.({
      ...(span ? { trace_id: span.traceId } : {}),
      method: exchange.method,
      route,
      status: response.status,
      ...(finalLayer ? { final_layer: finalLayer } : {}),
      ...(provider ? { provider } : {}),
      duration_ms: Math.round(seconds * 100_000) / 100
    })
  }
}

/**
 * The gateway's HTTP edge, seen from outside: every request is counted (`isartor_requests_total` by the layer
 * that answered, read from `X-Isartor-Layer`), timed, logged when asked, and — with traces on — wrapped in a
 * `gateway.request` span that continues the caller's `traceparent` and names its trace in `X-Isartor-Trace-Id`.
 * `/metrics` is served here, in Prometheus' text format, from the same registry.
 */
export const observeEdge = (inner: EdgeFetch, options: EdgeOptions) => {
  const tracer = Context.get(options.context, Tracer.Tracer)
  const metrics = metricsEndpoint(options)
  const record = recorder(options)
  const serveMetricsHere = options.config.metrics_port === 0
  /** Traces on or off is chosen here, once: off, a request carries no tracer and reads no `traceparent`. */
  const exchangeOf = options.tracing
    ? (request: Request, start: number, route: string) =>
      new Exchange(start, request.method, route, tracer, request.headers.get("traceparent"))
    : (request: Request, start: number, route: string) => new Exchange(start, request.method, route, undefined, null)
  /** Counted, logged, and (traced) its span ended and its trace named; a stream's span ends with the stream. */
  const answered = (exchange: Exchange, response: Response): Response => {
    record(exchange, response)
    if (exchange.tracer === undefined) return response
    const span = exchange.span
    const sent = span !== undefined && streamed(response) ? endingWith(response, span) : response
    // A response with no span (a refusal, `/healthz`) still names the caller's trace, when there is one.
    const traceId = span?.traceId ?? parseTraceparent(exchange.traceparent)?.traceId
    return traceId === undefined ? sent : withTraceId(sent, traceId)
  }
  const serve = (request: Request, passThrough: PassThroughOrigin | undefined): Response | Promise<Response> => {
    const start = performance.now()
    const path = pathOf(request.url)
    const route = routeOf(path)
    const exchange = exchangeOf(request, start, route)
    if (passThrough !== undefined) exchange.passThrough = passThrough
    if (route === "/metrics" && serveMetricsHere && request.method === "GET") {
      return metrics(request).then((response) => {
        record(exchange, response)
        return response
      })
    }
    let response: Response | Promise<Response>
    try {
      response = inner(request, path, exchange)
    } catch (error) {
      return exchange.died(error)
    }
    // No promise of its own when the app answers synchronously.
    return response instanceof Promise
      ? response.then((sent) => answered(exchange, sent), (error: unknown) => exchange.died(error))
      : answered(exchange, response)
  }
  // One argument only: a server hands its own second one (its connection, its info) to whatever `fetch` it serves.
  const fetch = (request: Request) => serve(request, undefined)
  /** A request read by `isartor proxy`, answered as any other, with its origin as its L3. */
  const passThrough = (request: Request, origin: PassThroughOrigin) => serve(request, origin)
  /** `/metrics` alone, for `metrics_port`. */
  const metricsOnly = async (request: Request): Promise<Response> =>
    routeOf(pathOf(request.url)) === "/metrics" && request.method === "GET"
      ? metrics(request)
      : new Response("only GET /metrics is served on this port\n", { status: 404 })
  return { fetch, passThrough, metricsOnly }
}
