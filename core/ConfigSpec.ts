import { Config, Redacted } from "effect"

/**
 * Every configuration key, its default and its meaning, in one place: the loader, the unknown-key warnings and
 * the README table all read this. Leaves take their own key name, so a key is spelled once.
 */
export interface Leaf<A> {
  readonly _tag: "Leaf"
  readonly make: (name: string) => Config.Config<A>
  readonly defaultText: string
  readonly meaning: string
  /** The form a value must have, as a start-up error states it. */
  readonly form: string
  /** Never echoed back in an error message. */
  readonly secret: boolean
}

const leaf = <A>(
  make: (name: string) => Config.Config<A>,
  defaultText: string,
  meaning: string,
  form: string,
  secret = false
): Leaf<A> => ({ _tag: "Leaf", make, defaultText, meaning, form, secret })

const text = (fallback: string, meaning: string) =>
  leaf((name) => Config.String(name).pipe(Config.withDefault(fallback)), fallback === "" ? "(empty)" : fallback, meaning, "text")
const int = (fallback: number, meaning: string) =>
  leaf((name) => Config.Int(name).pipe(Config.withDefault(fallback)), String(fallback), meaning, "a whole number")
const flag = (fallback: boolean, meaning: string) =>
  leaf((name) => Config.Boolean(name).pipe(Config.withDefault(fallback)), String(fallback), meaning, "true or false")
const secret = (meaning: string) =>
  leaf((name) => Config.Redacted(name).pipe(Config.withDefault(Redacted.make(""))), "(empty)", meaning, "text", true)
const oneOf = <const L extends ReadonlyArray<string>>(literals: L, fallback: L[number], meaning: string) =>
  leaf(
    (name) => Config.Literals(literals, name).pipe(Config.withDefault(fallback)),
    fallback,
    meaning,
    `one of ${literals.join(", ")}`
  )

export const configSpec = {
  host_port: text("0.0.0.0:8080", "Address and port the gateway listens on (`host:port`)."),
  gateway_api_key: secret(
    "When set, every route but `/healthz` needs `X-API-Key: <key>` or `Authorization: Bearer <key>`."
  ),
  cache_mode: oneOf(["exact", "semantic", "both"], "both", "Which cache layers answer: exact (L1a), semantic (L1b) or both, exact first."),
  cache_backend: oneOf(["memory", "redis"], "memory", "Where the caches live."),
  similarity_threshold: leaf(
    (name) => Config.Number(name).pipe(Config.withDefault(0.85)),
    "0.85",
    "Cosine similarity (0–1) a semantic-cache candidate needs to answer.",
    "a number between 0 and 1"
  ),
  cache_ttl_secs: int(300, "Seconds a cached answer lives."),
  cache_max_capacity: int(10000, "Most entries each cache holds; the least recently used goes first."),
  max_body_bytes: int(10 * 1024 * 1024, "Largest request body accepted; larger bodies get 413."),
  llm_provider: text("openai", "The L3 cloud provider."),
  external_llm_url: text(
    "https://api.openai.com/v1/chat/completions",
    "The provider's chat endpoint; a base URL ending in `/v1` is accepted too."
  ),
  external_llm_model: text("gpt-4o-mini", "Model used when a request names none."),
  external_llm_api_key: secret("The provider's API key. Without one, uncached requests get a 502 saying so."),
  l3_timeout_secs: int(120, "Seconds an L3 call may take before it is abandoned (502)."),
  redis_url: text("redis://127.0.0.1:6379", "Redis server for `cache_backend = redis`."),
  enable_monitoring: flag(false, "Export OpenTelemetry traces and serve Prometheus metrics."),
  otel_exporter_endpoint: text("http://localhost:4317", "OTLP endpoint traces are sent to."),
  enable_slm_router: flag(false, "Turn on the L2 small-model router."),
  layer2: {
    sidecar_url: text("http://127.0.0.1:8081", "OpenAI-compatible server that answers L2 requests."),
    model_name: text("phi-3-mini", "Model the L2 sidecar runs."),
    timeout_seconds: int(30, "Seconds an L2 call may take before the request falls through to L3."),
    classifier_mode: oneOf(["tiered", "binary"], "tiered", "How L2 classifies requests."),
    inference_engine: oneOf(["sidecar", "embedded"], "sidecar", "Where L2 answers come from."),
    max_answer_tokens: int(2048, "Most tokens an L2 answer may have.")
  }
} as const

export type ConfigSpec = typeof configSpec
type Node = Leaf<unknown> | { readonly [key: string]: Node }

export type Parsed<S> = { readonly [K in keyof S]: S[K] extends Leaf<infer A> ? A : Parsed<S[K]> }
export type AppConfigShape = Parsed<ConfigSpec>

/** Every leaf with its path, depth first: `[["layer2", "sidecar_url"], leaf]`. */
export const configLeaves = (spec: { readonly [key: string]: Node } = configSpec): Array<
  readonly [ReadonlyArray<string>, Leaf<unknown>]
> => {
  const out: Array<readonly [ReadonlyArray<string>, Leaf<unknown>]> = []
  const walk = (node: { readonly [key: string]: Node }, prefix: ReadonlyArray<string>) => {
    for (const [key, child] of Object.entries(node)) {
      if (child._tag === "Leaf") out.push([[...prefix, key], child as Leaf<unknown>])
      else walk(child as { readonly [key: string]: Node }, [...prefix, key])
    }
  }
  walk(spec, [])
  return out
}

export const envVarName = (path: ReadonlyArray<string>): string => `ISARTOR__${path.join("__").toUpperCase()}`
