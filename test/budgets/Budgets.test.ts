import assert from "node:assert/strict"
import { after, before, beforeEach, describe, it } from "node:test"
import { estimateInputTokens } from "../../core/formats/anthropic/tokens.ts"
import { type BudgetGateway, startBudgetGateway, utc } from "../support/budgetGateway.ts"
import { eventually } from "../support/eventually.ts"
import { startFakeOpenAI, TEST_PROVIDER_KEY } from "../support/fakeOpenAI.ts"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"

const PRIMARY_KEY = "sk-budget-primary-aaaaaaaa0001"
const FALLBACK_KEY = "sk-budget-fallback-bbbbbbbb0002"
const TEAM_WEB_KEY = "gw-team-web-cccccccccccc"
const TEAM_API_KEY = "gw-team-api-dddddddddddd"
/** What the keyed upstream reports of every answer: 3 tokens in, 1 out. */
const REAL_TOKENS = 4
const MAX_TOKENS = 16

let primary: KeyedUpstream
let spare: KeyedUpstream
before(async () => {
  primary = await startKeyedUpstream()
  spare = await startKeyedUpstream()
})
after(async () => {
  await primary.close()
  await spare.close()
})
beforeEach(() => {
  primary.calls.length = 0
  spare.calls.length = 0
})

const prompts = (prefix: string, count = 12) =>
  Array.from({ length: count }, (_, index) => `${prefix} question ${index}`)

/**
 * The tokens a budget check counts for a prompt before its answer: the gateway's estimate of its input (the same
 * function) and its `max_tokens`. Every prompt of a test has the same, so a limit can be set to let exactly n through.
 */
const projected = async (prompt: string) =>
  (await estimateInputTokens({ messages: [{ role: "user", content: prompt }] })) + MAX_TOKENS

/** A limit that lets exactly `admitted` of `prompts` through: each settles to its real tokens before the next asks. */
const limitFor = async (batch: ReadonlyArray<string>, admitted: number) => {
  const each = await projected(batch[0]!)
  for (const prompt of batch) assert.equal(await projected(prompt), each, "every prompt of a test projects the same")
  return REAL_TOKENS * (admitted - 1) + each
}

const upstreamToml = (budgets: string, extra = "") => `
external_llm_url = "${primary.url}"
external_llm_api_key = "${PRIMARY_KEY}"
${extra}
${budgets}
`

/** Sends prompts in order; the statuses they got. */
const statuses = async (gateway: BudgetGateway, batch: ReadonlyArray<string>, options = {}) => {
  const out: Array<number> = []
  for (const prompt of batch) out.push((await gateway.ask(prompt, options)).status)
  return out
}

const errorMessage = async (response: Response) => {
  const body = (await response.json()) as { error: { message: string } }
  return body.error.message
}

describe("budgets", () => {
  it("blocks at the request that would pass a daily limit, with a 429 naming it, until the UTC day ends", async () => {
    const batch = prompts("daily")
    const limit = await limitFor(batch, 4)
    const gateway = await startBudgetGateway(upstreamToml(`[budgets.openai]\ndaily_tokens = ${limit}\n`))
    try {
      gateway.setTime(utc(1, 2, 12))
      assert.deepEqual(await statuses(gateway, batch.slice(0, 4)), [200, 200, 200, 200])
      const refused = await gateway.ask(batch[4]!)
      assert.equal(refused.status, 429)
      assert.equal(refused.headers.get("x-should-retry"), "false")
      assert.equal(refused.headers.get("retry-after"), String(12 * 3600), "seconds until the UTC day ends")
      const message = await errorMessage(refused)
      assert.match(message, /budget "openai" daily_tokens is spent/)
      assert.match(message, new RegExp(`resets at ${new Date(utc(1, 3, 0)).toISOString()}`))
      assert.equal(primary.calls.length, 4, "the refused request never went upstream")

      gateway.setTime(utc(1, 2, 23, 59))
      assert.equal((await gateway.ask(batch[5]!)).status, 429, "still the same UTC day")
      gateway.setTime(utc(1, 3, 0, 1))
      assert.deepEqual(await statuses(gateway, batch.slice(5, 10)), [200, 200, 200, 200, 429], "a new day, a new limit")
    } finally {
      await gateway.close()
    }
  })

  it("keeps a monthly limit across days and lifts it when the UTC month ends", async () => {
    const batch = prompts("monthly")
    const limit = await limitFor(batch, 3)
    const gateway = await startBudgetGateway(upstreamToml(`[budgets.openai]\nmonthly_tokens = ${limit}\n`))
    try {
      gateway.setTime(utc(1, 2, 12))
      assert.deepEqual(await statuses(gateway, batch.slice(0, 4)), [200, 200, 200, 429])
      gateway.setTime(utc(1, 3, 12))
      const nextDay = await gateway.ask(batch[4]!)
      assert.equal(nextDay.status, 429, "a new day does not lift a monthly limit")
      assert.match(await errorMessage(nextDay), /monthly_tokens is spent.*resets at /)
      gateway.setTime(utc(2, 1, 0, 1))
      assert.deepEqual(await statuses(gateway, batch.slice(5, 9)), [200, 200, 200, 429])
    } finally {
      await gateway.close()
    }
  })

  it("limits the cost of a provider's answers by its price", async () => {
    // gpt-4o-mini at $1 per million tokens either way: 4 real tokens cost $0.000004.
    const batch = prompts("priced")
    const each = await projected(batch[0]!)
    const limitUsd = (REAL_TOKENS * 2 + each) / 1e6
    const gateway = await startBudgetGateway(upstreamToml(
      `[budgets.openai]\ndaily_cost_usd = ${limitUsd}\n`,
      `[pricing."openai/gpt-4o-mini"]\ninput_per_million = 1\noutput_per_million = 1\n`
    ))
    try {
      gateway.setTime(utc(1, 2, 12))
      const answered = await statuses(gateway, batch.slice(0, 4))
      assert.deepEqual(answered, [200, 200, 200, 429])
      assert.match(await errorMessage(await gateway.ask(batch[4]!)), /daily_cost_usd is spent: \$0\.0000/)
    } finally {
      await gateway.close()
    }
  })

  it("spends nothing on deflected answers: cache hits leave the budget as it was", async () => {
    const batch = prompts("deflected")
    const limit = await limitFor(batch, 2)
    const gateway = await startBudgetGateway(upstreamToml(`[budgets.openai]\ndaily_tokens = ${limit}\n`))
    try {
      gateway.setTime(utc(1, 2, 12))
      assert.equal((await gateway.ask(batch[0]!)).status, 200)
      for (let repeat = 0; repeat < 5; repeat++) {
        const hit = await gateway.ask(batch[0]!)
        assert.equal(hit.status, 200)
        assert.equal(hit.headers.get("x-isartor-layer"), "l1a")
      }
      assert.equal((await gateway.ask(batch[1]!)).status, 200, "the hits spent none of the room left")
      assert.equal((await gateway.ask(batch[2]!)).status, 429)
      assert.equal(primary.calls.length, 2)
    } finally {
      await gateway.close()
    }
  })

  it("answers the 429 in each client's own error shape, with Retry-After and x-should-retry: false", async () => {
    const gateway = await startBudgetGateway(upstreamToml(`[budgets.openai]\ndaily_tokens = 0\n`))
    try {
      gateway.setTime(utc(1, 2, 18))
      const openai = await gateway.ask("shape openai")
      const anthropic = await gateway.ask("shape anthropic", { family: "anthropic" })
      const gemini = await gateway.ask("shape gemini", { family: "gemini" })
      const native = await gateway.ask("shape native", { family: "native" })
      for (const response of [openai, anthropic, gemini, native]) {
        assert.equal(response.status, 429)
        assert.equal(response.headers.get("retry-after"), String(6 * 3600))
        assert.equal(response.headers.get("x-should-retry"), "false")
      }
      const openaiBody = (await openai.json()) as { error: Record<string, unknown> }
      assert.equal(openaiBody.error.type, "rate_limit_error")
      assert.equal(openaiBody.error.code, "BudgetExceeded")
      assert.match(String(openaiBody.error.message), /^budget "openai" daily_tokens is spent/)
      const anthropicBody = (await anthropic.json()) as { type: string; error: { type: string; message: string } }
      assert.equal(anthropicBody.type, "error")
      assert.equal(anthropicBody.error.type, "rate_limit_error")
      assert.match(anthropicBody.error.message, /budget "openai"/)
      const geminiBody = (await gemini.json()) as { error: { code: number; status: string; message: string } }
      assert.equal(geminiBody.error.code, 429)
      assert.equal(geminiBody.error.status, "RESOURCE_EXHAUSTED")
      assert.match(geminiBody.error.message, /budget "openai"/)
      assert.match(await errorMessage(native), /budget "openai"/)
      assert.equal(primary.calls.length, 0)
      const metrics = await (await gateway.get("/metrics")).text()
      assert.match(metrics, /isartor_budget_blocked_total\{budget="openai"\} 4/)
      assert.match(metrics, /isartor_budget_used_ratio\{budget="openai"\} 1/)
    } finally {
      await gateway.close()
    }
  })

  it("falls back to the next provider once the primary's budget is spent", async () => {
    const batch = prompts("fallback")
    const limit = await limitFor(batch, 2)
    const gateway = await startBudgetGateway(upstreamToml(
      `[budgets.openai]\ndaily_tokens = ${limit}\naction = "fallback"\n`,
      `fallback_providers = "openai-compatible"
[providers.openai_compatible]
url = "${spare.url}"
api_key = "${FALLBACK_KEY}"
model = "spare-model"
`
    ))
    try {
      gateway.setTime(utc(1, 2, 12))
      const answered: Array<string | null> = []
      for (const prompt of batch.slice(0, 4)) {
        const response = await gateway.ask(prompt)
        assert.equal(response.status, 200)
        answered.push(response.headers.get("x-isartor-provider"))
      }
      assert.deepEqual(answered, ["openai", "openai", "openai-compatible", "openai-compatible"])
      assert.equal(primary.calls.length, 2)
      assert.deepEqual(spare.calls.map((call) => call.model), ["spare-model", "spare-model"])
    } finally {
      await gateway.close()
    }
  })

  it("answers 429 when every provider's fallback budget is spent", async () => {
    const gateway = await startBudgetGateway(upstreamToml(
      `[budgets.openai]\ndaily_tokens = 0\naction = "fallback"\n[budgets.openai-compatible]\ndaily_tokens = 0\naction = "fallback"\n`,
      `fallback_providers = "openai-compatible"
[providers.openai_compatible]
url = "${spare.url}"
api_key = "${FALLBACK_KEY}"
`
    ))
    try {
      const refused = await gateway.ask("nowhere to go")
      assert.equal(refused.status, 429)
      const message = await errorMessage(refused)
      assert.match(message, /budget "openai"/)
      assert.match(message, /budget "openai-compatible"/)
      assert.equal(primary.calls.length + spare.calls.length, 0)
    } finally {
      await gateway.close()
    }
  })

  it("holds each caller to its own budget, by its gateway key's label", async () => {
    const batch = prompts("caller")
    const limit = await limitFor(batch, 2)
    const gateway = await startBudgetGateway(
      upstreamToml(
        `[budgets.caller."team-web"]\ndaily_tokens = ${limit}\n`,
        `
[[gateway_keys]]
label = "team-web"
key_env = "TEAM_WEB_KEY"

[[gateway_keys]]
label = "team-api"
key_env = "TEAM_API_KEY"
`
      ),
      { TEAM_WEB_KEY, TEAM_API_KEY }
    )
    try {
      gateway.setTime(utc(1, 2, 12))
      assert.deepEqual(await statuses(gateway, batch.slice(0, 3), { key: TEAM_WEB_KEY }), [200, 200, 429])
      const refused = await gateway.ask(batch[3]!, { key: TEAM_WEB_KEY })
      assert.match(await errorMessage(refused), /budget "caller:team-web" daily_tokens is spent/)
      assert.deepEqual(
        await statuses(gateway, batch.slice(4, 8), { key: TEAM_API_KEY }),
        [200, 200, 200, 200],
        "another caller is not held to team-web's budget"
      )
    } finally {
      await gateway.close()
    }
  })

  it("warns once per window past warn_at, never refuses, and shows it in /admin/overview", async () => {
    const batch = prompts("warn")
    const limit = await limitFor(batch, 2)
    const gateway = await startBudgetGateway(
      upstreamToml(`[budgets.openai]\ndaily_tokens = ${limit}\naction = "warn"\nwarn_at = 0.5\n`)
    )
    const budgetLines = () => gateway.lines.filter((line) => line.includes("budget \"openai\""))
    const overviewWarnings = async () =>
      ((await (await gateway.get("/admin/overview")).json()) as { warnings: Array<string> }).warnings
        .filter((warning) => warning.includes("budget \"openai\""))
    try {
      gateway.setTime(utc(1, 2, 12))
      assert.deepEqual(await statuses(gateway, batch.slice(0, 6)), [200, 200, 200, 200, 200, 200])
      assert.equal(primary.calls.length, 6, "a warn budget refuses nothing")
      // Past half, then past the whole: one line each, however many requests follow.
      assert.equal(budgetLines().length, 2, budgetLines().join("\n"))
      assert.match(budgetLines()[1]!, /is \d+ % spent/)
      assert.equal((await overviewWarnings()).length, 1)

      gateway.setTime(utc(1, 3, 0, 1))
      assert.deepEqual(await overviewWarnings(), [], "a new window starts afresh")
      assert.deepEqual(await statuses(gateway, batch.slice(6, 9)), [200, 200, 200])
      assert.equal(budgetLines().length, 4, "the new window warns again, once each")
    } finally {
      await gateway.close()
    }
  })

  it("refuses to start on a budget for a provider that does not exist", async () => {
    await assert.rejects(
      startBudgetGateway(upstreamToml(`[budgets.opneai]\ndaily_tokens = 10\n`)),
      /budgets\.opneai: "opneai" is not a provider/
    )
  })

  it("counts a streamed answer's real usage once it has ended, not its projection", async () => {
    // Streams of a fake that reports its usage in the last event, each far below what its max_tokens projects.
    const upstream = await startFakeOpenAI()
    const maxTokens = 400
    const each = (await estimateInputTokens({ messages: [{ role: "user", content: "streamed question 0" }] })) +
      maxTokens
    const gateway = await startBudgetGateway(`
external_llm_url = "${upstream.url}"
external_llm_api_key = "${TEST_PROVIDER_KEY}"
[budgets.openai]
daily_tokens = ${2 * each - 1}
`)
    const ask = (prompt: string) =>
      gateway.gateway.fetch(
        new Request("http://gateway/v1/chat/completions", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "gpt-4o-mini",
            max_tokens: maxTokens,
            stream: true,
            messages: [{ role: "user", content: prompt }]
          })
        })
      )
    try {
      gateway.setTime(utc(1, 2, 12))
      const first = await ask("streamed question 0")
      assert.equal(first.status, 200)
      await first.text()
      // Charged its projection alone, the first would leave no room for a second: its correction is made as it ends.
      await eventually(async () => {
        const second = await ask("streamed question 1")
        await second.text()
        return second.status === 200
      }, { what: "a second stream to be admitted once the first's real usage is counted" })
    } finally {
      await gateway.close()
      await upstream.close()
    }
  })
})
