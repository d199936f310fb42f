import type { Tracer } from "effect"

/**
 * Opens the request's `gateway.request` span, on demand: the pipeline asks for it once a request has missed L1a,
 * so exact hits — the bulk of a deflecting gateway's traffic — run no Effect span (a measurable share of their
 * throughput: see bench/README.md); the HTTP edge gives a hit its span once answered, with the tracer alone.
 * `l1aStartedAt` (ns) back-dates the `l1a.lookup` child it adds.
 * It travels on the request itself (`ChatRequest.trace`), not as an Effect service: providing one around every
 * pipeline run cost each exact hit a share of its throughput with tracing on.
 */
export interface RequestSpan {
  readonly open: (l1aStartedAt: bigint) => Tracer.Span | undefined
}
