import { parsePrice } from "../observability/usage.ts"
import { type AppConfigShape, providerConfigKeys } from "./ConfigSpec.ts"

// The shapes of values a leaf's type alone does not check, each group in its own function.

const validHostPort = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/

type Problem = [ReadonlyArray<string>, string]

/** Settings that are fractions, each between 0 and 1. */
const fractionProblems = (config: AppConfigShape): Array<Problem> => {
  const fractions: Array<[ReadonlyArray<string>, number]> = [
    ...(config.similarity_threshold === undefined
      ? []
      : [[["similarity_threshold"], config.similarity_threshold] as [ReadonlyArray<string>, number]]),
    [["semantic_fast_threshold"], config.semantic_fast_threshold],
    ...(config.l1b_score_threshold === undefined
      ? []
      : [[["l1b_score_threshold"], config.l1b_score_threshold] as [ReadonlyArray<string>, number]]),
    [["l1b_error_budget"], config.l1b_error_budget],
    [["layer2", "classifier_min_confidence"], config.layer2.classifier_min_confidence]
  ]
  return fractions.filter(([, value]) => !(value >= 0 && value <= 1))
    .map(([path]): Problem => [path, "expected a number between 0 and 1"])
}

/** L3's retries: none, or some. */
const retryProblems = (config: AppConfigShape): Array<Problem> => [
  ...(config.l3_max_retries < 0 ? [[["l3_max_retries"], "expected 0 or a positive integer"] as Problem] : []),
  ...(config.l3_retry_base_ms < 0 ? [[["l3_retry_base_ms"], "expected 0 or a positive integer"] as Problem] : [])
]

/** Sizes and durations, each positive; the metrics port a port. */
const countProblems = (config: AppConfigShape): Array<Problem> => {
  const problems: Array<Problem> = []
  const positive: Array<[ReadonlyArray<string>, number]> = [
    [["cache_ttl_secs"], config.cache_ttl_secs],
    [["cache_max_capacity"], config.cache_max_capacity],
    [["cache_max_bytes"], config.cache_max_bytes],
    [["max_body_bytes"], config.max_body_bytes],
    [["cache_max_entry_bytes"], config.cache_max_entry_bytes],
    [["max_upstream_body_bytes"], config.max_upstream_body_bytes],
    [["max_sse_line_bytes"], config.max_sse_line_bytes],
    [["l3_stream_idle_secs"], config.l3_stream_idle_secs],
    [["l3_timeout_secs"], config.l3_timeout_secs],
    [["layer2", "timeout_seconds"], config.layer2.timeout_seconds],
    [["layer2", "max_answer_tokens"], config.layer2.max_answer_tokens]
  ]
  for (const [path, value] of positive) if (value <= 0) problems.push([path, "expected a positive integer"])
  if (config.metrics_port < 0 || config.metrics_port > 65535) {
    problems.push([["metrics_port"], "expected a port number (0 to 65535; 0: the gateway's own port)"])
  }
  return problems
}

/** The address the gateway listens on: host:port. */
const hostPortProblems = (config: AppConfigShape): Array<Problem> => {
  const port = validHostPort.exec(config.host_port)?.[2]
  return port === undefined || Number(port) > 65535 ? [[["host_port"], "expected host:port, e.g. 0.0.0.0:8080"]] : []
}

/** Azure's deployment name and API version, as its URLs take them. */
const azureProblems = (config: AppConfigShape): Array<Problem> => {
  const problems: Array<Problem> = []
  if (config.azure_deployment_id !== "" && !/^[A-Za-z0-9._-]+$/.test(config.azure_deployment_id)) {
    problems.push([["azure_deployment_id"], "expected a deployment name of letters, digits, '.', '_' or '-'"])
  }
  if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(config.azure_api_version)) {
    problems.push([["azure_api_version"], "expected YYYY-MM-DD or YYYY-MM-DD-preview"])
  }
  return problems
}

/** The price list: model=input/output each. */
const priceProblems = (config: AppConfigShape): Array<Problem> => {
  const unpriced = config.model_prices.filter((entry) => parsePrice(entry) === undefined)
  return unpriced.length === 0
    ? []
    : [[["model_prices"], `expected model=input/output (USD per million tokens), not ${unpriced.join(", ")}`]]
}

/** The URLs the gateway calls: http or https, when set. */
const urlProblems = (config: AppConfigShape): Array<Problem> => {
  const protocols = ["http:", "https:"]
  const urls: Array<[ReadonlyArray<string>, string]> = [
    [["external_llm_url"], config.external_llm_url],
    ...providerConfigKeys.map((
      id
    ): [ReadonlyArray<string>, string] => [["providers", id, "url"], config.providers[id].url]),
    [["otel_exporter_endpoint"], config.otel_exporter_endpoint],
    [["layer2", "sidecar_url"], config.layer2.sidecar_url]
    // redis_url is checked when Redis is used: a malformed one degrades the caches instead of stopping start-up.
  ]
  // Empty: the default (a provider's public API, say).
  return urls.filter(([, value]) =>
    value !== "" && !protocols.includes(URL.canParse(value) ? new URL(value).protocol : "")
  )
    .map(([path]): Problem => [path, `expected a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`])
}

/** Checks the shapes a schema type alone does not express; returns a message per bad key. */
export const checkShapes = (config: AppConfigShape): Array<Problem> => [
  ...hostPortProblems(config),
  ...fractionProblems(config),
  ...retryProblems(config),
  ...azureProblems(config),
  ...countProblems(config),
  ...priceProblems(config),
  ...urlProblems(config)
]
