import type { Context } from "effect"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { PipelineStatus } from "../pipeline/Pipeline.ts"
import type { RecordUsage } from "./edgeUsage.ts"
import type { NamedGatewayKey } from "./gatewayKeys.ts"

/** One request, as the access log and the JSON log line describe it. Never a header value: no key can leak here. */
export interface RequestRecord {
  readonly trace_id?: string
  readonly method: string
  readonly route: string
  readonly status: number
  readonly final_layer?: string
  readonly provider?: string
  readonly duration_ms: number
}

export interface EdgeOptions {
  readonly config: AppConfigShape
  /** The gateway's runtime: its metric registry, and its tracer when traces are exported. */
  readonly context: Context.Context<never>
  readonly tracing: boolean
  readonly status: () => Promise<PipelineStatus | undefined>
  readonly version: string
  readonly runtime: string
  /** Spans and metric exports the OTLP exporter has dropped since start. */
  readonly dropped?: () => number
  /** Called once a request's response has headers; absent when request lines are not logged. */
  readonly logRequest?: (record: RequestRecord) => void
  /** The usage ledger's recorder, told of each request that reached an answer (its exchange's `usage` set). */
  readonly recordUsage?: RecordUsage
  /** The named `gateway_keys`: `/metrics` takes them as it takes `gateway_api_key`. */
  readonly gatewayKeys?: ReadonlyArray<NamedGatewayKey>
}
