import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import type { UsageReport } from "../../core/usage/UsageRow.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { alive, chat, run, userEnv } from "./run.ts"

// `isartor stats` and the spent/saved lines of `isartor status`, run as a user runs them (spawned, clean HOME).

const ADMIN_KEY = "admin-key-stats-0123456789"
// USD 1 per input token and 2 per output token: the table's dollars are whole numbers.
const PRICES = "gpt-4o-mini=1000000/2000000"
let upstream: FakeOpenAI
let gateway: RunningGateway
before(async () => {
  upstream = await startFakeOpenAI()
  gateway = await startTestGateway(
    upstreamEnv(upstream.url, { ISARTOR__ADMIN_API_KEY: ADMIN_KEY, ISARTOR__MODEL_PRICES: PRICES })
  )
})
after(async () => {
  await gateway.close()
  await upstream.close()
})

interface Usage {
  readonly prompt_tokens: number
  readonly completion_tokens: number
}
const ask = async (url: string, prompt: string) => {
  const response = await chat(url, prompt)
  assert.equal(response.status, 200)
  return { layer: response.headers.get("x-isartor-layer"), ...((await response.json()) as { usage: Usage }).usage }
}

describe("isartor stats", () => {
  it("prints the ledger as a table, the report as JSON, and says what is wrong", async () => {
    const user = userEnv()
    const stats = (...args: Array<string>) =>
      run(["stats", "--url", gateway.url, "--admin-key", ADMIN_KEY, ...args], user.env)
    try {
      const first = await ask(gateway.url, "How many bridges cross the Isar?")
      const second = await ask(gateway.url, "Which gate is the Isartor?")
      const hit = await ask(gateway.url, "How many bridges cross the Isar?")
      assert.deepEqual([first.layer, second.layer, hit.layer], ["l3", "l3", "l1a"])
      const tokensIn = first.prompt_tokens + second.prompt_tokens
      const tokensOut = first.completion_tokens + second.completion_tokens
      const saved = first.prompt_tokens + first.completion_tokens

      const table = await stats()
      assert.equal(table.code, 0, table.stderr)
      const lines = table.stdout.trimEnd().split("\n")
      assert.match(lines[1]!, /^model\s+requests\s+deflected\s+tokens in\s+tokens out\s+spent\s+tokens saved\s+saved/)
      const cells = (line: string) => line.split(/\s{2,}/)
      assert.deepEqual(cells(lines.find((line) => line.startsWith("gpt-4o-mini"))!), [
        "gpt-4o-mini",
        "3",
        "33.3 %",
        String(tokensIn),
        String(tokensOut),
        `$${(tokensIn + 2 * tokensOut).toFixed(2)}`,
        String(saved),
        `$${(first.prompt_tokens + 2 * first.completion_tokens).toFixed(2)}`,
        "0"
      ])
      assert.match(lines[lines.length - 1]!, /^total\s+3\s+33\.3 %/)

      const json = await stats("--by", "layer", "--since", "1h", "--json")
      assert.equal(json.code, 0, json.stderr)
      const report = JSON.parse(json.stdout) as UsageReport
      assert.equal(report.by, "layer")
      assert.deepEqual(Object.fromEntries(report.groups.map((group) => [group.key, group.requests])), { l1a: 1, l3: 2 })
      assert.equal(report.total.tokens_saved, saved)

      const hourly = await stats("--by", "hour", "--since", "2h")
      assert.equal(hourly.code, 0, hourly.stderr)
      const hourLines = hourly.stdout.trimEnd().split("\n")
      assert.match(hourLines[1]!, /^hour\s+requests/)
      const hourRows = hourLines.slice(2, -1).map((line) => line.split(/\s{2,}/))
      assert.ok(hourRows.every(([key]) => /^\d{4}-\d{2}-\d{2}T\d{2}:00Z$/.test(key!)), hourly.stdout)
      assert.equal(hourRows.reduce((sum, [, requests]) => sum + Number(requests), 0), 3)

      const badGroup = await stats("--by", "team")
      assert.equal(badGroup.code, 2)
      assert.match(badGroup.stderr, /--by.*team.*caller, model, provider, layer, hour, day/s)
      const badSince = await stats("--since", "yesterday")
      assert.equal(badSince.code, 1)
      assert.match(badSince.stderr, /since: expected an ISO 8601 time/)
      const wrongKey = await run(["stats", "--url", gateway.url, "--admin-key", "wrong"], user.env)
      assert.equal(wrongKey.code, 1)
      assert.match(wrongKey.stderr, /invalid admin key/)
      const noKey = await run(["stats", "--url", gateway.url], user.env)
      assert.equal(noKey.code, 1)
      assert.match(noKey.stderr, /no admin key: .*ISARTOR__ADMIN_API_KEY/)
      const notRunning = await run(["stats", "--admin-key", ADMIN_KEY], user.env)
      assert.equal(notRunning.code, 1)
      assert.match(notRunning.stderr, /no gateway to ask: isartor is not running here/)
      const gone = await run(["stats", "--url", "http://127.0.0.1:9", "--admin-key", ADMIN_KEY], user.env)
      assert.equal(gone.code, 1)
      assert.match(gone.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/)
    } finally {
      user.cleanup()
    }
  })
})

describe("isartor status", () => {
  it("shows spent and saved today with the admin key, and how to see them without it", async () => {
    const user = userEnv(
      upstreamEnv(upstream.url, {
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__ADMIN_API_KEY: ADMIN_KEY,
        ISARTOR__MODEL_PRICES: PRICES,
        // No drain on `stop` (5 s by default; command.e2e.ts and runtimes.e2e.ts check it).
        ISARTOR__SHUTDOWN_DRAIN_SECS: "0"
      })
    )
    let pid: number | undefined
    try {
      const started = await run(["up", "--detach", "--port", "0"], user.env)
      assert.equal(started.code, 0, started.stderr + started.stdout)
      const found = /running at (http:\/\/\S+) \(pid (\d+)\)/.exec(started.stdout)
      assert.ok(found, started.stdout)
      pid = Number(found[2])
      const first = await ask(found[1]!, "What did the gateway save today?")
      await ask(found[1]!, "What did the gateway save today?")
      const tokens = first.prompt_tokens + first.completion_tokens
      const dollars = (first.prompt_tokens + 2 * first.completion_tokens).toFixed(2)

      const status = await run(["status"], user.env)
      assert.equal(status.code, 0, status.stderr)
      assert.match(status.stdout, new RegExp(`spent today  ${tokens} tokens, \\$${dollars}`))
      assert.match(status.stdout, new RegExp(`saved today  ${tokens} tokens, \\$${dollars}`))
      const json = JSON.parse((await run(["status", "--json"], user.env)).stdout) as {
        today: { tokens_saved: number; cost_usd: number } | null
      }
      assert.equal(json.today?.tokens_saved, tokens)

      const { ISARTOR__ADMIN_API_KEY: _, ...withoutKey } = user.env
      const keyless = await run(["status"], withoutKey)
      assert.equal(keyless.code, 0, keyless.stderr)
      assert.match(keyless.stdout, /spent\/saved today: set ISARTOR__ADMIN_API_KEY .* isartor stats/)
      assert.equal((await run(["stop"], user.env)).code, 0)
    } finally {
      if (pid !== undefined && alive(pid)) process.kill(pid, "SIGKILL")
      user.cleanup()
    }
  })
})
