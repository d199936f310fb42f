/**
 * The usage ledger's vocabulary, shared by what records (the edge, the pipeline), what stores (memory, SQLite,
 * Redis), what answers (`/admin/*`) and what shows (`/dashboard`, `isartor stats`). Plain data: no Effect, no runtime.
 */

/**
 * The layer that answered, as the ledger names it: the cache layers, the local model, a provider, or a pass-through;
 * `none` for a request that failed before any layer or provider took it (`only-if-cached` with nothing cached, a
 * request the pipeline refused).
 */
export type UsageLayer = "l1a" | "l1b" | "l2" | "l3" | "pass" | "none"

/** The client format a request came in: what its route serves. */
export type UsageFamily =
  | "chat"
  | "messages"
  | "responses"
  | "embeddings"
  | "completions"
  | "ollama"
  | "gemini"
  | "proxy"
  /** `cache_lookup` over MCP: an agent's question found in the caches. */
  | "mcp"

/**
 * One answered request. Never a key, and a prompt or an answer only with `request_log_bodies`: `caller` is the scope hash (the hash the cache scopes
 * entries with), `label` the name the operator gave the caller's gateway key, when it has one.
 */
export interface UsageRow {
  /** Milliseconds since the epoch, when the answer's headers went out. */
  readonly at: number
  readonly caller: string
  readonly label?: string
  readonly family: UsageFamily
  /** The model the client asked for ("" when none, e.g. the proxy). */
  readonly model_asked: string
  /** The provider that answered ("" for a cache or local answer). */
  readonly provider: string
  /** The model that answered, as the answer names it; for a cache hit, the model that first answered. */
  readonly model: string
  readonly layer: UsageLayer
  /** Tokens the answer took now: spent upstream by an L3 answer or pass-through, else 0. */
  readonly tokens_in: number
  readonly tokens_out: number
  /** Estimated USD spent now (tokens × the price table); 0 for an unpriced model or a deflection. */
  readonly cost_usd: number
  /** For a deflection (L1a, L1b, L2): the tokens and cost of the answer when it was first bought. */
  readonly tokens_saved: number
  readonly cost_saved_usd: number
  /**
   * The answer carried no usage: its output tokens are estimated from its length, its input from the request (the
   * tokenizer `count_tokens` uses); absent when the upstream said them.
   */
  readonly tokens_estimated?: boolean
  /**
   * When a `[routing]` rule sent the request to another model: what these tokens would have cost at the default
   * model's price, less what they cost (negative when the rule's model is dearer); absent otherwise.
   */
  readonly routing_saved_usd?: number
  readonly latency_ms: number
  readonly status: number
  readonly stream: boolean
  /**
   * Only with `request_log_bodies = true`, for chat requests: the last user message and the answer's text, each its
   * first 2,000 characters, credentials masked before the row is stored. The admin API masks them again on the way
   * out, and drops them when the setting is off.
   */
  readonly question?: string
  readonly answer?: string
}

/** What `GET /admin/usage?by=` groups by. */
export type UsageBy = "caller" | "model" | "provider" | "layer" | "hour" | "day"

/** Every grouping `GET /admin/usage?by=` and `isartor stats --by` take. */
export const USAGE_BY: ReadonlyArray<UsageBy> = ["caller", "model", "provider", "layer", "hour", "day"]

/** One group of `GET /admin/usage` and `isartor stats`: sums over the rows (or hourly rollups) in the window. */
export interface UsageTotals {
  readonly requests: number
  readonly errors: number
  readonly tokens_in: number
  readonly tokens_out: number
  readonly cost_usd: number
  readonly tokens_saved: number
  readonly cost_saved_usd: number
  /** Requests per answering layer. */
  readonly layers: Readonly<Partial<Record<UsageLayer, number>>>
}

export interface UsageGroup extends UsageTotals {
  /**
   * The group's name: a caller's label (else its scope hash), a model, a provider, a layer, a UTC hour
   * (`YYYY-MM-DDTHH:00Z`) or a UTC day (`YYYY-MM-DD`).
   */
  readonly key: string
}

/** `GET /admin/usage` */
export interface UsageReport {
  readonly since: string
  readonly until: string
  readonly by: UsageBy
  readonly total: UsageTotals
  readonly groups: ReadonlyArray<UsageGroup>
  /** Models that answered but have no price: their cost counts as 0. */
  readonly unpriced_models: ReadonlyArray<string>
}
