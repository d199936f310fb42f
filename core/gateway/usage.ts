import { Effect } from "effect"
import { spendOfEmbeddings, spendOfResponses } from "../budgets/spend.ts"
import type { AppConfigShape } from "../config/ConfigSpec.ts"
import { secretValues } from "../config/effectiveSettings.ts"
import { maskCredentials } from "../domain/credentials.ts"
import { estimateInputTokens } from "../formats/anthropic/tokens.ts"
import type { RecordUsage } from "../http/edgeUsage.ts"
import { ledgerDisabled, ledgerLayer } from "../usage/ledger.ts"
import { pricesOf } from "../usage/prices.ts"
import { makeUsageRows } from "../usage/recorder.ts"
import { makeRedisUsageStore } from "../usage/redisStore.ts"
import type { UsageLedger } from "../usage/UsageLedger.ts"
import type { UsageFamily } from "../usage/UsageRow.ts"
import { makeMemoryStore } from "../usage/UsageStore.ts"
import type { GatewayOptions, RedisConnection } from "./options.ts"
import { acquire } from "./resources.ts"

/** No caller: only the estimate of a budget's spend is read here. */
const NOBODY = { tenant: "" }

/**
 * A request's input tokens, estimated in its client's format, as budgets estimate them: a Responses body's
 * `instructions` and `input`, an embeddings body's `input` (a token array counted as sent), else the chat body every
 * other route hands the pipeline (its messages and tools, as `count_tokens` counts them).
 */
export const estimateUsageInput = (body: Readonly<Record<string, unknown>>, family: UsageFamily): Promise<number> =>
  family === "responses"
    ? spendOfResponses(body, NOBODY).input()
    : family === "embeddings"
    ? spendOfEmbeddings(body, NOBODY).input()
    : estimateInputTokens(body)

/**
 * The usage ledger over its store: Redis with the caches, else the runtime's persistent one, else memory. Each
 * request is priced, a kept question and answer with credentials masked; an answer without usage has its input
 * estimated as `count_tokens` estimates it.
 */
export const usageLedger = (config: AppConfigShape, options: GatewayOptions, redis: RedisConnection | undefined) =>
  Effect.gen(function*() {
    if (!config.usage_ledger) return ledgerDisabled
    const retentionMs = config.usage_retention_days * 24 * 3_600_000
    const open = options.usageStore
    // With Redis, one ledger for every replica.
    const store = redis !== undefined
      ? makeRedisUsageStore(redis.commands, retentionMs)
      : open === undefined
      ? makeMemoryStore()
      : yield* acquire("cannot open the usage ledger", () => open(config.usage_path), (store) => store.close?.())
    const prices = pricesOf(config)
    const secrets = secretValues(config)
    return ledgerLayer({
      store,
      retentionMs,
      priced: (provider, model) => prices(provider, model) !== undefined,
      rows: makeUsageRows({ prices, mask: (text) => maskCredentials(text, secrets) }),
      estimateInput: estimateUsageInput
    })
  })

/** Each request that reached an answer, as the edge saw it go out, stamped with when and handed to the ledger. */
export const usageRecorder =
  (ledger: UsageLedger["Service"], now: () => number): RecordUsage =>
  (note, family, layer, provider, status, latencyMs) =>
    ledger.recordNote(note, family, layer, provider, status, latencyMs, now())
