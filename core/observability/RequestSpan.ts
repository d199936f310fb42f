import type { Tracer } from "effect"

/**
 * Opens the request's `gateway.request` span, on demand: the pipeline asks for it once a request has missed L1a,
 * so exact hits — the bulk of a deflecting gateway's traffic — run no Effect span (which cost them 70 % of their
 * throughput, `npm run bench:monitoring`); the HTTP edge gives a hit its span once answered, with the tracer alone.
 * `l1aStartedAt` (ns) back-dates the `l1a.lookup` child it adds.
 * It travels on the request itself (`ChatRequest.trace`): providing it as an Effect service cost every exact hit
 * 15–18 % of its throughput with tracing on.
 */
export interface RequestSpan {
  readonly open: (l1aStartedAt: bigint) => Tracer.Span | undefined
}

export const nowNanos = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1_000_000))
