import assert from "node:assert/strict"
import { after, before, beforeEach, describe, it } from "node:test"
import type { GatewayOptions, SemanticBackends } from "../../core/Gateway.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { connectRedis } from "../../runtimes/redis.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { makeMovableClock } from "../support/movableClock.ts"
import { type RedisServer, startRedis } from "../support/redis.ts"

// Cache management: every answer names its entry; a caller sees and removes only its own; the admin key sees
// all, purges and flushes; requests speak HTTP caching (max-age, s-maxage, only-if-cached) — on memory and on
// Redis shared by two replicas.

const model = await loadUseLite()
const hnswlib = await loadHnswlib()
const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }

const ADMIN_KEY = "admin-key-0123456789"

let upstream: FakeOpenAI
let redis: RedisServer
before(async () => {
  upstream = await startFakeOpenAI()
  redis = await startRedis()
})
after(async () => {
  await redis.stop()
  await upstream.close()
})
beforeEach(() => {
  upstream.calls.length = 0
})

const gatewayWith = (extra: Record<string, string> = {}, shared = false, options: GatewayOptions = {}) =>
  startTestGateway(
    upstreamEnv(upstream.url, {
      ISARTOR__ADMIN_API_KEY: ADMIN_KEY,
      ...(shared ? { ISARTOR__CACHE_BACKEND: "redis", ISARTOR__REDIS_URL: redis.url } : {}),
      ...extra
    }),
    {},
    backends,
    shared ? connectRedis : undefined,
    undefined,
    options
  )

const ask = async (gateway: RunningGateway, prompt: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${gateway.url}/api/chat`, {
    method: "POST",
    headers: { authorization: "Bearer caller-one", ...headers },
    body: JSON.stringify({ prompt })
  })
  return {
    status: response.status,
    layer: response.headers.get("x-isartor-layer"),
    key: response.headers.get("x-isartor-cache-key"),
    age: response.headers.get("age"),
    body: (await response.json()) as { message?: string; error?: { message: string } }
  }
}

const call = async (gateway: RunningGateway, method: string, path: string, key: string, body?: unknown) => {
  const response = await fetch(`${gateway.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}` },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  return { status: response.status, body: (await response.json()) as Record<string, any> }
}

describe("cache entries, in memory", () => {
  let gateway: RunningGateway
  before(async () => {
    gateway = await gatewayWith()
  })
  after(() => gateway.close())

  it("names the entry of every answer, and says how old a cached one is", async () => {
    const first = await ask(gateway, "What is the boiling point of water?")
    assert.equal(first.layer, "l3")
    assert.match(first.key ?? "", /^l1a_[0-9a-f]{16}$/)
    assert.equal(first.age, null)
    const again = await ask(gateway, "What is the boiling point of water?")
    assert.equal(again.layer, "l1a")
    assert.equal(again.key, first.key)
    assert.equal(again.age, "0")
    const paraphrase = await ask(gateway, "What's the boiling point of water?")
    assert.equal(paraphrase.layer, "l1b")
    assert.match(paraphrase.key ?? "", /^l1b_/)
  })

  it("lets a caller read and remove its own entry, and nobody else's (404, as if it did not exist)", async () => {
    const answer = await ask(gateway, "Who wrote Hamlet?")
    const path = `/v1/cache/${answer.key}`
    const mine = await call(gateway, "GET", path, "caller-one")
    assert.equal(mine.status, 200)
    assert.equal(mine.body.question, "Who wrote Hamlet?")
    assert.equal(mine.body.layer, "l1a")
    assert.match(mine.body.linked, /^l1b_/)
    assert.equal((await call(gateway, "GET", path, "caller-two")).status, 404)
    assert.equal((await call(gateway, "DELETE", path, "caller-two")).status, 404)
    assert.equal((await ask(gateway, "Who wrote Hamlet?")).layer, "l1a")

    const removed = await call(gateway, "DELETE", path, "caller-one")
    assert.deepEqual(removed.body, { id: answer.key, deleted: 2 })
    // Both layers forgot it: neither the question nor a paraphrase is served from the cache.
    assert.equal((await ask(gateway, "Who wrote Hamlet?")).layer, "l3")
    assert.equal(upstream.calls.length, 2)
  })

  it("answers only-if-cached from the cache or with a 504, never from the upstream", async () => {
    await ask(gateway, "What is the capital of Peru?")
    const cached = await ask(gateway, "What is the capital of Peru?", { "cache-control": "only-if-cached" })
    assert.equal(cached.layer, "l1a")
    const missing = await ask(gateway, "What is the tallest tree on Earth?", { "cache-control": "only-if-cached" })
    assert.equal(missing.status, 504)
    assert.match(missing.body.error?.message ?? "", /only-if-cached/)
    assert.equal(upstream.calls.length, 1)
  })

  it("serves an entry only if it is younger than max-age, and keeps one only as long as s-maxage says", async () => {
    // A gateway on a clock the test moves: an entry's age and its TTL are what is under test, not the machine's pace.
    const time = makeMovableClock()
    const timed = await gatewayWith({}, false, { clock: time.clock })
    try {
      await ask(timed, "How many moons has Mars?")
      time.advance(1_000)
      assert.equal((await ask(timed, "How many moons has Mars?", { "cache-control": "max-age=60" })).layer, "l1a")
      const tooOld = await ask(timed, "How many moons has Mars?", { "cache-control": "max-age=0" })
      assert.equal(tooOld.layer, "l3")

      const question = "How many moons has Jupiter?"
      await ask(timed, question, { "x-isartor-cache-ttl": "1" })
      time.advance(999)
      assert.equal((await ask(timed, question)).layer, "l1a", "held for the TTL the request asked for")
      // Past it, the entry is gone from L1b as well as L1a: neither answers the same question.
      time.advance(2)
      assert.equal((await ask(timed, question)).layer, "l3")
    } finally {
      await timed.close()
    }
  })
})

describe("the admin API", () => {
  it("does not exist without an admin key, and refuses the gateway key", async () => {
    const open = await gatewayWith({ ISARTOR__ADMIN_API_KEY: "" })
    const locked = await gatewayWith({ ISARTOR__GATEWAY_API_KEY: "gateway-key-0123456789" })
    try {
      assert.equal((await call(open, "POST", "/admin/cache/flush", "anything")).status, 404)
      assert.equal((await call(locked, "POST", "/admin/cache/flush", "gateway-key-0123456789")).status, 401)
      assert.equal((await call(locked, "GET", "/admin/cache", ADMIN_KEY)).status, 200)
    } finally {
      await open.close()
      await locked.close()
    }
  })

  it("purges exactly what its dry run counted, then flushes everything", async () => {
    const gateway = await gatewayWith()
    try {
      for (const city of ["Paris", "Rome", "Oslo"]) await ask(gateway, `What is the population of ${city}?`)
      await ask(gateway, "What is the height of Mount Everest?")
      const filter = { question_contains: "POPULATION" }
      const dry = await call(gateway, "POST", "/admin/cache/purge", ADMIN_KEY, { ...filter, dry_run: true })
      assert.equal(dry.body.matched, 6, "three questions, each in L1a and L1b")
      assert.equal(dry.body.removed, 0)
      const purged = await call(gateway, "POST", "/admin/cache/purge", ADMIN_KEY, filter)
      assert.deepEqual([purged.body.matched, purged.body.removed], [dry.body.matched, dry.body.matched])
      const left = await call(gateway, "GET", "/admin/cache", ADMIN_KEY)
      assert.deepEqual(
        [...new Set(left.body.data.map((entry: { question: string }) => entry.question))],
        ["What is the height of Mount Everest?"]
      )
      const flushed = await call(gateway, "POST", "/admin/cache/flush", ADMIN_KEY)
      assert.deepEqual(flushed.body.removed, { l1a: 1, l1b: 1 })
      assert.equal((await ask(gateway, "What is the height of Mount Everest?")).layer, "l3")
    } finally {
      await gateway.close()
    }
  })

  it("refuses a directive the gateway does not allow, with a 403 saying which", async () => {
    const gateway = await gatewayWith({ ISARTOR__CACHE_CONTROLS_ALLOWED: "no-cache,max-age" })
    try {
      const refused = await ask(gateway, "Can I skip the cache write?", { "cache-control": "no-store" })
      assert.equal(refused.status, 403)
      assert.match(refused.body.error?.message ?? "", /no-store is not allowed/)
      assert.equal(upstream.calls.length, 0)
    } finally {
      await gateway.close()
    }
  })

  it("refuses a directive it does not know (immutable) with a 403 in the client's format, unless allowed", async () => {
    const strict = await gatewayWith()
    const lenient = await gatewayWith({ ISARTOR__CACHE_CONTROLS_ALLOWED: "no-cache,immutable" })
    const send = (gateway: RunningGateway, path: string, body: unknown, cacheControl: string) =>
      fetch(`${gateway.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          authorization: "Bearer caller-one",
          "cache-control": cacheControl
        },
        body: JSON.stringify(body)
      })
    const question = "Is this answer immutable?"
    const routes = [
      { path: "/v1/chat/completions", body: { model: "gpt-4o-mini", messages: [{ role: "user", content: question }] } },
      {
        path: "/v1/messages",
        body: { model: "gpt-4o-mini", max_tokens: 64, messages: [{ role: "user", content: question }] }
      },
      { path: "/api/chat", body: { prompt: question } }
    ]
    try {
      for (const cacheControl of ["immutable", "no-cache, immutable", "no-transform"]) {
        for (const { path, body } of routes) {
          const refused = await send(strict, path, body, cacheControl)
          assert.equal(refused.status, 403, `${path} with Cache-Control: ${cacheControl}`)
          const error = (await refused.json()) as { type?: string; error: { type: string; message: string } }
          const directive = cacheControl.split(", ").at(-1)!
          assert.match(error.error.message, new RegExp(`Cache-Control: ${directive} is not allowed`))
          if (path === "/v1/messages") assert.deepEqual([error.type, error.error.type], ["error", "permission_error"])
          else assert.equal(error.error.type, "invalid_request_error")
        }
      }
      assert.equal(upstream.calls.length, 0, "no refused request reached the provider")
      // An operator who lists it lets it through; so is an empty member of the list.
      const allowed = await send(lenient, "/api/chat", { prompt: question }, "immutable,, no-cache")
      assert.equal(allowed.status, 200)
      assert.equal(allowed.headers.get("x-isartor-layer"), "l3")
    } finally {
      await strict.close()
      await lenient.close()
    }
  })
})

describe("cache entries on Redis, two replicas", () => {
  it("purges what the dry run counted and flushes both layers, for every replica", async () => {
    const a = await gatewayWith({}, true)
    const b = await gatewayWith({}, true)
    try {
      await call(a, "POST", "/admin/cache/flush", ADMIN_KEY)
      for (const river of ["Nile", "Amazon"]) await ask(a, `How long is the ${river} river?`)
      await ask(a, "How deep is the Mariana Trench?")
      // Replica B sees A's entries (L1a in Redis; L1b once announced).
      await eventually(async () => (await call(b, "GET", "/admin/cache", ADMIN_KEY)).body.data.length === 6, {
        what: "replica B to list replica A's 6 entries"
      })
      const filter = { question_contains: "river" }
      const dry = await call(b, "POST", "/admin/cache/purge", ADMIN_KEY, { ...filter, dry_run: true })
      assert.equal(dry.body.matched, 4)
      const purged = await call(b, "POST", "/admin/cache/purge", ADMIN_KEY, filter)
      assert.equal(purged.body.removed, dry.body.matched)
      assert.equal((await ask(a, "How long is the Nile river?", { "cache-control": "no-store" })).layer, "l3")
      const flushed = await call(b, "POST", "/admin/cache/flush", ADMIN_KEY)
      assert.equal(flushed.body.total, 2)
      assert.equal((await ask(a, "How deep is the Mariana Trench?", { "cache-control": "no-store" })).layer, "l3")
    } finally {
      await a.close()
      await b.close()
    }
  })

  it("stops serving a paraphrase on both replicas once its semantic entry is deleted", async () => {
    const a = await gatewayWith({}, true)
    const b = await gatewayWith({}, true)
    try {
      assert.equal((await ask(a, "How do I reset my router?")).layer, "l3")
      let hit: Awaited<ReturnType<typeof ask>> | undefined
      await eventually(async () => {
        // Not stored: an attempt that comes before A's entry reaches B must not become B's own exact entry.
        hit = await ask(b, "How can I reset my router?", { "cache-control": "no-store" })
        return hit.layer === "l1b"
      }, { what: "replica B to serve the paraphrase from L1b" })
      const deleted = await call(a, "DELETE", `/admin/cache/${hit!.key}`, ADMIN_KEY)
      assert.equal(deleted.status, 200)
      assert.equal(deleted.body.deleted, 2)
      for (const replica of [a, b]) {
        const paraphrase = await ask(replica, "How could I reset my router?", { "cache-control": "no-store" })
        assert.notEqual(paraphrase.layer, "l1b")
      }
      // The exact entry went too, for every replica.
      assert.equal((await ask(b, "How do I reset my router?", { "cache-control": "no-store" })).layer, "l3")
    } finally {
      await a.close()
      await b.close()
    }
  })
})
