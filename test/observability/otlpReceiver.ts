import * as grpc from "@grpc/grpc-js"
import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"
import protobuf from "protobufjs"

const protoRoot = new URL("./otlp-proto/", import.meta.url).pathname
const root = new protobuf.Root()
root.resolvePath = (_origin, target) => protoRoot + target
root.loadSync([
  "opentelemetry/proto/collector/trace/v1/trace_service.proto",
  "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
  "opentelemetry/proto/collector/logs/v1/logs_service.proto"
], { keepCase: false })
const TraceRequest = root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest")
const TraceResponse = root.lookupType("opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse")
const MetricsRequest = root.lookupType("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest")
const MetricsResponse = root.lookupType("opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse")
const LogsRequest = root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest")
const LogsResponse = root.lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse")

/** A span as the receiver decoded it: ids in hex, attributes as plain values. */
export interface ReceivedSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly kind: number
  /** Nanoseconds since the epoch. */
  readonly start: bigint
  readonly end: bigint
  readonly attributes: Record<string, unknown>
  readonly resource: Record<string, unknown>
}

/** A log record as the receiver decoded it: ids in hex ("" outside a span), the body as text. */
export interface ReceivedLog {
  readonly body: string
  readonly severityNumber: number
  readonly severityText: string
  readonly traceId: string
  readonly spanId: string
  /** Nanoseconds since the epoch. */
  readonly time: bigint
  readonly attributes: Record<string, unknown>
  readonly resource: Record<string, unknown>
}

interface AnyValue {
  stringValue?: string
  boolValue?: boolean
  intValue?: number | string
  doubleValue?: number
}
type KeyValues = Array<{ key: string; value?: AnyValue }> | undefined

const plain = (attributes: KeyValues): Record<string, unknown> =>
  Object.fromEntries((attributes ?? []).map(({ key, value }) => [
    key,
    value?.stringValue ?? value?.boolValue ?? (value?.intValue !== undefined ? Number(value.intValue) : undefined) ??
      value?.doubleValue
  ]))
const hex = (bytes: Uint8Array | undefined) => Buffer.from(bytes ?? []).toString("hex")

export interface OtlpReceiver {
  /** `http://127.0.0.1:<port>` of the gRPC services, or of the HTTP endpoints (`/v1/traces`, `/v1/metrics`, `/v1/logs`). */
  readonly url: string
  readonly spans: Array<ReceivedSpan>
  readonly logs: Array<ReceivedLog>
  /** Names of the metrics received, with every export. */
  readonly metricNames: Set<string>
  /** The headers of each HTTP export request (gRPC metadata for the gRPC receiver). */
  readonly headers: Array<IncomingHttpHeaders | Record<string, unknown>>
  stop(): Promise<void>
}

type Received = { spans: Array<ReceivedSpan>; logs: Array<ReceivedLog>; metricNames: Set<string>; headers: Array<any> }
const received = (): Received => ({ spans: [], logs: [], metricNames: new Set(), headers: [] })

const collect = (receiver: Received) => ({
  traces: (request: Record<string, any>) => {
    for (const resourceSpans of request.resourceSpans ?? []) {
      const resource = plain(resourceSpans.resource?.attributes)
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          receiver.spans.push({
            name: span.name,
            traceId: hex(span.traceId),
            spanId: hex(span.spanId),
            parentSpanId: hex(span.parentSpanId),
            kind: span.kind ?? 0,
            start: BigInt(span.startTimeUnixNano ?? 0),
            end: BigInt(span.endTimeUnixNano ?? 0),
            attributes: plain(span.attributes),
            resource
          })
        }
      }
    }
  },
  metrics: (request: Record<string, any>) => {
    for (const resourceMetrics of request.resourceMetrics ?? []) {
      for (const scope of resourceMetrics.scopeMetrics ?? []) {
        for (const metric of scope.metrics ?? []) receiver.metricNames.add(metric.name)
      }
    }
  },
  logs: (request: Record<string, any>) => {
    for (const resourceLogs of request.resourceLogs ?? []) {
      const resource = plain(resourceLogs.resource?.attributes)
      for (const scope of resourceLogs.scopeLogs ?? []) {
        for (const record of scope.logRecords ?? []) {
          receiver.logs.push({
            body: record.body?.stringValue ?? JSON.stringify(record.body ?? null),
            severityNumber: record.severityNumber ?? 0,
            severityText: record.severityText ?? "",
            traceId: hex(record.traceId),
            spanId: hex(record.spanId),
            time: BigInt(record.timeUnixNano ?? 0),
            attributes: plain(record.attributes),
            resource
          })
        }
      }
    }
  }
})

/**
 * A collector's OTLP/gRPC receiver: the real TraceService, MetricsService and LogsService, decoded with the official
 * protos.
 */
export const startGrpcReceiver = async (port = 0): Promise<OtlpReceiver> => {
  const receiver = received()
  const into = collect(receiver)
  const server = new grpc.Server()
  const unary = (path: string, Request: protobuf.Type, Response: protobuf.Type, sink: (r: any) => void) => ({
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestDeserialize: (bytes: Buffer) => Request.toObject(Request.decode(bytes), { longs: String }),
      requestSerialize: (value: any) => Buffer.from(Request.encode(Request.fromObject(value)).finish()),
      responseSerialize: (value: any) => Buffer.from(Response.encode(Response.fromObject(value)).finish()),
      responseDeserialize: (bytes: Buffer) => Response.toObject(Response.decode(bytes))
    } as grpc.MethodDefinition<any, any>,
    handler: (call: grpc.ServerUnaryCall<any, any>, done: grpc.sendUnaryData<any>) => {
      receiver.headers.push(call.metadata.getMap())
      sink(call.request)
      done(null, {})
    }
  })
  const traces = unary(
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    TraceRequest,
    TraceResponse,
    into.traces
  )
  const metrics = unary(
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    MetricsRequest,
    MetricsResponse,
    into.metrics
  )
  const logs = unary(
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    LogsRequest,
    LogsResponse,
    into.logs
  )
  for (const service of [traces, metrics, logs]) {
    server.addService({ Export: service.Export }, { Export: service.handler })
  }
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `127.0.0.1:${port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, chosen) => error ? reject(error) : resolve(chosen)
    )
  )
  return {
    url: `http://127.0.0.1:${bound}`,
    ...receiver,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()))
  }
}

/** A collector's OTLP/HTTP receiver for http/protobuf: POST /v1/traces, /v1/metrics and /v1/logs. */
export const startHttpReceiver = async (): Promise<OtlpReceiver> => {
  const receiver = received()
  const into = collect(receiver)
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      receiver.headers.push(request.headers)
      const body = Buffer.concat(chunks)
      const [Request, Response, sink] = request.url === "/v1/traces"
        ? [TraceRequest, TraceResponse, into.traces] as const
        : request.url === "/v1/logs"
        ? [LogsRequest, LogsResponse, into.logs] as const
        : [MetricsRequest, MetricsResponse, into.metrics] as const
      sink(Request.toObject(Request.decode(body), { longs: String }))
      response.writeHead(200, { "content-type": "application/x-protobuf" })
      response.end(Buffer.from(Response.encode(Response.create({})).finish()))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    ...receiver,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
