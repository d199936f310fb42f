import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type RunningGateway, startTestGateway } from "../support/gateway.ts"
import { type KeyedUpstream, startKeyedUpstream } from "../support/keyedUpstream.ts"
import { chat, run, userEnv } from "./run.ts"

// `isartor providers`, run as a user runs it (spawned, clean HOME), against a gateway with a pool of two keys.

const ADMIN_KEY = "admin-key-providers-0123456789"
const GOOD_KEY = "sk-cli-good-aaaaaaaaaaaa1111"
const LIMITED_KEY = "sk-cli-limited-bbbbbbbbb2222"
let upstream: KeyedUpstream
let gateway: RunningGateway
before(async () => {
  upstream = await startKeyedUpstream()
  gateway = await startTestGateway({
    ISARTOR__EXTERNAL_LLM_URL: upstream.url,
    ISARTOR__EXTERNAL_LLM_API_KEYS: `${LIMITED_KEY},${GOOD_KEY}`,
    ISARTOR__ADMIN_API_KEY: ADMIN_KEY
  })
})
after(async () => {
  await gateway.close()
  await upstream.close()
})

describe("isartor providers", () => {
  it("shows each key masked with its state, as lines and as JSON, never the key", async () => {
    const user = userEnv()
    const providers = (...args: Array<string>) =>
      run(["providers", "--url", gateway.url, "--admin-key", ADMIN_KEY, ...args], user.env)
    try {
      upstream.answers.set(LIMITED_KEY, { status: 429, retryAfterSecs: 600 })
      assert.equal((await chat(gateway.url, "which key answers?")).status, 200)

      const lines = await providers()
      assert.equal(lines.code, 0, lines.stderr)
      assert.match(lines.stdout, /^openai \(primary, round_robin\)\s+breaker closed/m)
      assert.match(lines.stdout, /sk-cli-…2222\s+key-1\s+cooling\s+requests 1\s+429s 1/)
      assert.match(lines.stdout, /sk-cli-…1111\s+key-2\s+ok\s+requests 1\s+429s 0/)

      const json = await providers("--json")
      assert.equal(json.code, 0, json.stderr)
      const answer = JSON.parse(json.stdout) as { data: Array<{ keys: Array<{ state: string }> }> }
      assert.deepEqual(answer.data[0]!.keys.map((key) => key.state), ["cooling", "ok"])
      for (const output of [lines.stdout, json.stdout]) {
        assert.ok(!output.includes(GOOD_KEY) && !output.includes(LIMITED_KEY), "no key in the output")
      }

      const wrongKey = await run(["providers", "--url", gateway.url, "--admin-key", "wrong-admin-key"], user.env)
      assert.equal(wrongKey.code, 1)
      assert.match(wrongKey.stderr, /invalid admin key/)
    } finally {
      user.cleanup()
    }
  })
})
