import type { Clock } from "effect"
import type { HnswlibModule } from "hnswlib-wasm/dist/hnswlib.js"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import type { EmbeddingBackend } from "../embedding/Embedder.ts"
import type { TelemetryExporter } from "../observability/Telemetry.ts"
import type { PassThroughOrigin } from "../providers/passThrough/PassThrough.ts"
import type { RedisCommands } from "../redis/RedisCommands.ts"
import type { EmbeddedEngine } from "../router/LocalModel.ts"
import type { UpstreamFetchFunction } from "../transport/http.ts"
import type { UsageLedger } from "../usage/UsageLedger.ts"
import type { UsageStore } from "../usage/UsageStore.ts"
import type { GatewayLog } from "./logging.ts"

/** What the runtime provides for L1b: the embedding model and the vector library, both loaded from disk. */
export interface EmbeddingChoice {
  readonly model: string
  readonly modelPath: string
  /**
   * Only USE-lite's fast stage is needed — L1b's learned decision and no embedding classifier — so the model itself
   * need not load (no worker thread, no model memory). Ignored for other models.
   */
  readonly fastOnly?: boolean
}

export interface SemanticBackends {
  /** Loads the sentence encoder `embedding_model` names (from `embedding_model_path` when set). */
  readonly loadEmbedder: (choice: EmbeddingChoice) => Promise<EmbeddingBackend>
  readonly loadHnswlib: () => Promise<HnswlibModule>
}

/** A Redis client for `cache_backend = redis`, provided by the runtime. */
export interface RedisConnection {
  readonly commands: RedisCommands
  readonly close: () => Promise<void>
}

export interface GatewayOptions {
  readonly log?: GatewayLog
  /** Without them, L1b reports itself unavailable and requests go from L1a straight on. */
  readonly semantic?: SemanticBackends
  /** Required for `cache_backend = redis`. */
  readonly redis?: (url: string) => Promise<RedisConnection>
  /**
   * Loads the embedded L2 engine (node-llama-cpp) for a GGUF file; rejects with a message that says what to install
   * or set when the package or the file is missing.
   */
  readonly embedded?: (modelPath: string) => Promise<EmbeddedEngine>
  /** Builds the OTLP exporter when `enable_monitoring` is on; without it the gateway says monitoring is unavailable. */
  readonly telemetry?: TelemetryExporter
  /** Which runtime serves, for `isartor_build_info{runtime}`, e.g. "node v20.20.2". */
  readonly runtime?: string
  /** How the providers call upstream, when the runtime has a faster way than its global `fetch` (Node: undici). */
  readonly upstreamFetch?: UpstreamFetchFunction
  /**
   * Exact hits sent with one `Headers` per answer and age, for a runtime whose `Response` copies a `Headers` faster
   * than it reads a plain object (Bun, Deno). Taken only where a `Response` copies the headers it is given.
   */
  readonly shareResponseHeaders?: boolean
  /**
   * A large body is parsed in pieces from its bytes (core/domain/jsonBytes.ts), never decoded whole; on unless
   * `false`. V8 (Node, Deno) allocates a string over 128 KiB in its large-object space at a cost far above its size,
   * which the pieces avoid; JavaScriptCore (Bun) has no such cost, and there the pieces' byte scan costs more than
   * the whole parse (`bench/README.md`, the agent row).
   */
  readonly parseInPieces?: boolean
  /**
   * Exact hits of bodies seen before answered in front of the Hono app (core/http/exactHitLane.ts); on unless
   * `false`, which sends every request through Hono and the pipeline (the property test compares the two).
   */
  readonly exactHitLane?: boolean
  /**
   * Opens the usage ledger's persistent store at `usage_path` ("" is the runtime's default place); without it, the
   * ledger is kept in memory. Not used with `cache_backend = redis`, where the ledger is in Redis.
   */
  readonly usageStore?: (path: string) => Promise<UsageStore>
  /**
   * The clock the caches stamp, age and expire entries by (and every effect of the gateway reads); Effect's own
   * unless given. A test gives one it moves, to see a TTL end without waiting for it.
   */
  readonly clock?: Clock.Clock
}

export interface Gateway {
  readonly fetch: (request: Request) => Response | Promise<Response>
  /**
   * A request `isartor proxy` read, answered as `fetch` answers any other (caches, router, ledger), with its own
   * origin and credential as its L3 instead of the configured providers.
   */
  readonly passThrough: (request: Request, origin: PassThroughOrigin) => Response | Promise<Response>
  readonly config: AppConfigShape
  readonly hostname: string
  readonly port: number
  /** With `metrics_port` set: `/metrics` alone, to be served on that port of the gateway's host. */
  readonly metrics?: { readonly fetch: (request: Request) => Promise<Response>; readonly port: number }
  /** The usage ledger: what `/admin/usage` and `isartor stats` read. */
  readonly usage: UsageLedger["Service"]
  /** From now on `/healthz` answers 503, so a load balancer stops sending requests; everything else still serves. */
  readonly drain: () => void
  readonly dispose: () => Promise<void>
}

/** Start-up failed: the message says which setting and what form it needs. */
export class GatewayStartError extends Error {
  override readonly name = "GatewayStartError"
}
