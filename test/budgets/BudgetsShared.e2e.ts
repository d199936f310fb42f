import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { budgetKeyPrefix } from "../../core/budgets/BudgetCounters.ts"
import { estimateInputTokens } from "../../core/formats/anthropic/tokens.ts"
import { connectRedis } from "../../runtimes/redis.ts"
import { type BudgetGateway, startBudgetGateway } from "../support/budgetGateway.ts"
import { eventually } from "../support/eventually.ts"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from "../support/redis.ts"

const PROVIDER_KEY = "sk-shared-budget-aaaaaaaa0001"
/** What the keyed upstream reports of every answer: 3 tokens in, 1 out. */
const REAL_TOKENS = 4
const MAX_TOKENS = 16
/** The answers one budget has room for, had they come one after another. */
const ROOM = 10
const CLIENTS_PER_REPLICA = 4
const PROMPTS_PER_CLIENT = 8

let upstream: KeyedUpstream
let redis: RedisServer
let cluster: RedisCluster
before(async () => {
  upstream = await startKeyedUpstream()
  redis = await startRedis()
  cluster = await startRedisCluster(3)
})
after(async () => {
  await cluster.stop()
  await redis.stop()
  await upstream.close()
})

const promptOf = (replica: number, client: number, index: number) => `replica ${replica} client ${client} asks ${index}`
const inputOf = (prompt: string) => estimateInputTokens({ messages: [{ role: "user", content: prompt }] })

/** Two replicas of one gateway on one Redis, clients on both at once: a budget is the fleet's, not a replica's. */
const sharedBudget = async (redisUrl: string) => {
  const projected = (await inputOf(promptOf(0, 0, 0))) + MAX_TOKENS
  const limit = REAL_TOKENS * (ROOM - 1) + projected
  const toml = `
cache_backend = "redis"
redis_url = "${redisUrl}"
external_llm_url = "${upstream.url}"
external_llm_api_key = "${PROVIDER_KEY}"
[budgets.openai]
daily_tokens = ${limit}
`
  const replicas: Array<BudgetGateway> = []
  const connection = await connectRedis(redisUrl)
  try {
    for (let index = 0; index < 2; index++) replicas.push(await startBudgetGateway(toml, {}, { redis: connectRedis }))
    upstream.calls.length = 0
    const answered = await Promise.all(
      replicas.map((replica, r) =>
        Promise.all(Array.from({ length: CLIENTS_PER_REPLICA }, async (_, client) => {
          let admitted = 0
          for (let index = 0; index < PROMPTS_PER_CLIENT; index++) {
            const prompt = promptOf(r, client, index)
            assert.equal((await inputOf(prompt)) + MAX_TOKENS, projected, "every prompt projects the same")
            const response = await replica.ask(prompt, { maxTokens: MAX_TOKENS })
            assert.ok(response.status === 200 || response.status === 429, `status ${response.status}`)
            await response.text()
            if (response.status === 200) admitted++
          }
          return admitted
        })).then((counts) => counts.reduce((sum, count) => sum + count, 0))
      )
    )
    const total = answered[0]! + answered[1]!
    // Alone, each replica would have let ROOM through; together at most ROOM, and one more each in a race.
    assert.ok(total <= ROOM + 2, `${total} answers for a budget with room for ${ROOM}`)
    assert.ok(total >= ROOM / 2, `${total} answers: the budget let too few through`)
    assert.equal(upstream.calls.length, total, "a refused request never went upstream")
    assert.ok(total * REAL_TOKENS <= limit + 2 * REAL_TOKENS, "spent at most one answer over the limit per replica")
    // Once every answer is settled, the shared counter holds their real tokens, whichever replica counted them.
    const day = new Date().toISOString().slice(0, 10)
    const key = `${budgetKeyPrefix}{openai}:d:${day}:t`
    await eventually(async () => Number(await connection.commands.get(key)) === total * REAL_TOKENS, {
      what: `the shared day counter to hold ${total * REAL_TOKENS} tokens`
    })
  } finally {
    for (const replica of replicas) await replica.close()
    await connection.close()
  }
}

describe("budgets shared in Redis", () => {
  it("holds two replicas with concurrent clients to one budget on one Redis", async () => {
    await sharedBudget(redis.url)
  })

  it("holds two replicas to one budget on a Redis Cluster", async () => {
    await sharedBudget(cluster.url)
  })
})
