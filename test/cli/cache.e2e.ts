import assert from "node:assert/strict"
import { after, before, describe, it } from "node:test"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { run, userEnv } from "./run.ts"

// `isartor cache …` against a gateway's admin API, run as a user runs it (spawned, clean HOME).

const ADMIN_KEY = "admin-key-cli-0123456789"
let upstream: FakeOpenAI
let gateway: RunningGateway
before(async () => {
  upstream = await startFakeOpenAI()
  gateway = await startTestGateway(upstreamEnv(upstream.url, { ISARTOR__ADMIN_API_KEY: ADMIN_KEY }))
})
after(async () => {
  await gateway.close()
  await upstream.close()
})

const ask = async (prompt: string) => {
  const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", body: JSON.stringify({ prompt }) })
  await response.json()
  return response.headers.get("x-isartor-cache-key")!
}

describe("isartor cache", () => {
  it("lists, shows and removes entries, purges with a dry run, and flushes", async () => {
    const user = userEnv()
    const cache = (...args: Array<string>) =>
      run(["cache", "--url", gateway.url, "--admin-key", ADMIN_KEY, ...args], user.env)
    try {
      const id = await ask("What does the cache command show?")
      await ask("Which model answered the purge question?")

      const listed = await cache("--json", "list")
      assert.equal(listed.code, 0, listed.stderr)
      const entries = JSON.parse(listed.stdout) as Array<{ id: string; question: string }>
      assert.equal(entries.length, 2)
      assert.equal(entries.find((entry) => entry.id === id)?.question, "What does the cache command show?")

      const shown = await cache("show", id)
      assert.equal(shown.code, 0)
      assert.match(shown.stdout, /question\s+What does the cache command show\?/)

      const removed = await cache("rm", id)
      assert.equal(removed.code, 0)
      assert.match(removed.stdout, /removed 1 entry/)
      const gone = await cache("show", id)
      assert.equal(gone.code, 1)
      assert.match(gone.stderr, /no cache entry/)

      const dry = await cache("purge", "--question-contains", "purge", "--dry-run")
      assert.match(dry.stdout, /1 entries match; nothing removed/)
      const purged = await cache("purge", "--question-contains", "purge")
      assert.match(purged.stdout, /removed 1 of 1 matching entries/)
      const noFilter = await cache("purge")
      assert.equal(noFilter.code, 2)

      await ask("One more for the flush")
      const flushed = await cache("flush")
      assert.match(flushed.stdout, /flushed 1 entries/)
      const wrongKey = await run(["cache", "--url", gateway.url, "--admin-key", "wrong", "list"], user.env)
      assert.equal(wrongKey.code, 1)
      assert.match(wrongKey.stderr, /invalid admin key/)
    } finally {
      user.cleanup()
    }
  })
})
