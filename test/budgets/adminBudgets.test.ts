import { serve } from "@hono/node-server"
import assert from "node:assert/strict"
import type { AddressInfo } from "node:net"
import { after, before, describe, it } from "node:test"
import { budgets } from "../../cli/budgets.ts"
import type { BudgetStatus } from "../../core/budgets/status.ts"
import { BUDGET_ADMIN_KEY, startBudgetGateway, utc } from "../support/budgetGateway.ts"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"

// `GET /admin/budgets` and `isartor budgets`: what each budget has used of what, in which window, until when.

const PRIMARY_KEY = "sk-budget-admin-aaaaaaaa0001"
const TEAM_KEY = "gw-team-web-eeeeeeeeeeee"
/** What the keyed upstream reports of every answer: 3 tokens in, 1 out. */
const REAL_TOKENS = 4

let upstream: KeyedUpstream
before(async () => {
  upstream = await startKeyedUpstream()
})
after(() => upstream.close())

const toml = () => `
external_llm_url = "${upstream.url}"
external_llm_api_key = "${PRIMARY_KEY}"

[pricing."openai/gpt-4o-mini"]
input_per_million = 1
output_per_million = 1

[budgets.openai]
daily_tokens = 1000
monthly_cost_usd = 2.5
action = "fallback"

[budgets.caller."team-web"]
monthly_tokens = 8
action = "warn"
warn_at = 0.5

[[gateway_keys]]
label = "team-web"
key_env = "TEAM_KEY"
`

/** Runs `isartor budgets` in this process against a listening gateway; its exit code and what it printed. */
const runCli = async (url: string, json: boolean) => {
  const printed: Array<string> = []
  const log = console.log
  const write = process.stdout.write
  console.log = (line: string) => void printed.push(line)
  process.stdout.write = ((chunk: string) => printed.push(chunk) > 0) as typeof process.stdout.write
  try {
    const code = await budgets({ url, adminKey: BUDGET_ADMIN_KEY, json })
    return { code, output: printed.join("\n") }
  } finally {
    console.log = log
    process.stdout.write = write
  }
}

describe("GET /admin/budgets", () => {
  it("shows each budget's used and limit per window, in tokens and USD, its action and when it resets", async () => {
    const gateway = await startBudgetGateway(toml(), { TEAM_KEY })
    const server = serve({ fetch: gateway.gateway.fetch, hostname: "127.0.0.1", port: 0 })
    await new Promise<void>((resolve) => server.once("listening", () => resolve()))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      gateway.setTime(utc(1, 2, 12))
      assert.equal((await gateway.ask("admin budgets one", { key: TEAM_KEY })).status, 200)
      assert.equal((await gateway.ask("admin budgets two", { key: TEAM_KEY })).status, 200)

      const response = await gateway.get("/admin/budgets")
      assert.equal(response.status, 200)
      const { data } = (await response.json()) as { data: Array<BudgetStatus> }
      const byName = new Map(data.map((budget) => [budget.budget, budget]))
      assert.deepEqual([...byName.keys()], ["openai", "caller:team-web"])

      const openai = byName.get("openai")!
      assert.equal(openai.scope, "provider")
      assert.equal(openai.action, "fallback")
      assert.deepEqual(openai.windows.map((window) => window.window), ["day", "month"])
      const [day, month] = openai.windows
      assert.equal(day!.period, new Date(utc(1, 2)).toISOString().slice(0, 10))
      assert.equal(day!.resets_at, new Date(utc(1, 3, 0)).toISOString())
      assert.deepEqual(day!.tokens, { used: 2 * REAL_TOKENS, limit: 1000 })
      assert.deepEqual(day!.cost_usd, { used: 2 * REAL_TOKENS / 1e6, limit: null })
      assert.equal(day!.used_ratio, 2 * REAL_TOKENS / 1000)
      assert.equal(month!.resets_at, new Date(utc(2, 1, 0)).toISOString())
      assert.deepEqual(month!.cost_usd, { used: 2 * REAL_TOKENS / 1e6, limit: 2.5 })
      assert.deepEqual(month!.tokens, { used: 2 * REAL_TOKENS, limit: null })

      const caller = byName.get("caller:team-web")!
      assert.equal(caller.scope, "caller")
      assert.equal(caller.action, "warn")
      assert.equal(caller.warn_at, 0.5)
      assert.deepEqual(caller.windows.map((window) => window.window), ["month"], "only the windows it limits")
      assert.deepEqual(caller.windows[0]!.tokens, { used: 2 * REAL_TOKENS, limit: 8 })
      assert.equal(caller.used_ratio, 1)

      const lines = await runCli(url, false)
      assert.equal(lines.code, 1, "a spent budget: exit 1")
      assert.match(lines.output, /^openai \(provider, action fallback, warn at 80 %\)\s+0 %/m)
      assert.match(lines.output, /^\s+day\s+\S+\s+0 %\s+8 tokens of 1000 tokens\s+\$0\.0000 \(no limit\)\s+resets /m)
      assert.match(lines.output, /^caller:team-web \(caller, action warn, warn at 50 %\)\s+100 %/m)
      assert.match(lines.output, /^\s+month\s+\S+\s+100 %\s+8 tokens of 8 tokens/m)
      const json = await runCli(url, true)
      assert.deepEqual((JSON.parse(json.output) as { data: unknown }).data, data)

      gateway.setTime(utc(1, 3, 0, 1))
      const nextDay = (await (await gateway.get("/admin/budgets")).json()) as { data: Array<BudgetStatus> }
      assert.deepEqual(nextDay.data[0]!.windows[0]!.tokens, { used: 0, limit: 1000 }, "a new day starts at zero")
      assert.equal(nextDay.data[1]!.windows[0]!.tokens.used, 2 * REAL_TOKENS, "the month goes on")
    } finally {
      server.close()
      await gateway.close()
    }
  })

  it("answers only the admin key, and lists nothing when no budget is configured", async () => {
    const gateway = await startBudgetGateway(`external_llm_url = "${upstream.url}"\n`)
    try {
      const refused = await gateway.gateway.fetch(new Request("http://gateway/admin/budgets"))
      assert.equal(refused.status, 401)
      const answer = (await (await gateway.get("/admin/budgets")).json()) as { data: Array<unknown> }
      assert.deepEqual(answer.data, [])
    } finally {
      await gateway.close()
    }
  })
})
