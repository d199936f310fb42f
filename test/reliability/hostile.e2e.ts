// Hostile upstreams and careless clients, on each runtime's own server: an abort storm, redirects of every kind,
// compression bombs, answers and lines past their bounds, error bodies that never end, streams that take their
// time and streams that stall. The gateway stays up, refuses what it does not take with a 502 that says why, and
// keeps nothing partial or oversized in its caches.
import assert from "node:assert/strict"
import { once } from "node:events"
import { readFile } from "node:fs/promises"
import { after, before, describe, it } from "node:test"
import { eventually } from "../support/eventually.ts"
import {
  compressionBomb,
  type Encoding,
  type HostileUpstream,
  startHostileUpstream,
  stormWords
} from "../support/hostileUpstream.ts"
import { runtimeCommand, type RuntimeName, type StartedProcess, startProcess } from "../support/processes.ts"

const runtimes: ReadonlyArray<RuntimeName> = ["node", "bun", "deno"]
const encodings: ReadonlyArray<Encoding> = ["gzip", "deflate", "br"]
/** What each bomb inflates to: enough to show in RSS many times over were it inflated. */
const BOMB_BYTES = 256 * 1024 * 1024
const MAX_UPSTREAM_BODY_BYTES = 4 * 1024 * 1024

let upstream: HostileUpstream
before(async () => {
  const bombs = Object.fromEntries(
    await Promise.all(encodings.map(async (encoding) => [encoding, await compressionBomb(encoding, BOMB_BYTES)]))
  ) as Record<Encoding, Buffer>
  upstream = await startHostileUpstream(bombs)
}, { timeout: 120_000 })
after(() => upstream.close())

const rssBytes = async (pid: number): Promise<number> => {
  const status = await readFile(`/proc/${pid}/status`, "utf8")
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024
}

const chat = (
  gateway: StartedProcess,
  content: string,
  init: { stream?: boolean; headers?: Record<string, string>; signal?: AbortSignal } = {}
) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...init.headers },
    body: JSON.stringify({ model: "gpt-4o-mini", stream: init.stream ?? false, messages: [{ role: "user", content }] }),
    ...(init.signal ? { signal: init.signal } : {})
  })

/** The message of an OpenAI-format error answer. */
const errorMessage = async (response: Response) =>
  ((await response.json()) as { error?: { message?: string } }).error?.message ?? ""

/** A small deterministic generator: the same storm on every run. */
const seeded = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31
  return seed / 2 ** 31
}

for (const runtime of runtimes) {
  describe(`hostile upstreams and careless clients: ${runtime}`, () => {
    let gateway: StartedProcess
    before(async () => {
      gateway = await startProcess(runtimeCommand(runtime, `runtimes/${runtime}.ts`), {
        ISARTOR__HOST_PORT: "127.0.0.1:0",
        ISARTOR__EXTERNAL_LLM_URL: upstream.url,
        ISARTOR__EXTERNAL_LLM_API_KEY: "sk-hostile-0123456789abcdef",
        ISARTOR__CACHE_MODE: "exact",
        ISARTOR__L3_RETRY_BASE_MS: "1",
        // Each case here fails on purpose and checks its own answer: the breaker, which would open after the first
        // few and answer the rest 503, and the retry budget have tests of their own (test/providers/breaker.test.ts).
        ISARTOR__BREAKER_COOLOFF_SECS: "0",
        ISARTOR__RETRY_BUDGET_MIN_RETRIES: "100000",
        ISARTOR__L3_TIMEOUT_SECS: "2",
        ISARTOR__L3_STREAM_IDLE_SECS: "1",
        ISARTOR__MAX_UPSTREAM_BODY_BYTES: String(MAX_UPSTREAM_BODY_BYTES),
        // SIGTERM at the end would wait out the load balancer's drain (5 s by default, tested in runtimes.e2e.ts)
        // before the shutdown this file checks: that nothing the storm left behind holds it up.
        ISARTOR__SHUTDOWN_DRAIN_SECS: "0"
      })
    })
    after(() => gateway.stop())

    it("survives 300 streamed requests from 20 clients that abort at random points, and caches no partial answer", async () => {
      const random = seeded(runtime.length * 7919)
      const prompts = Array.from({ length: 40 }, (_, index) => `storm:${runtime}:${index}`)
      let next = 0
      const client = async () => {
        while (next < 300) {
          const prompt = prompts[next++ % prompts.length]!
          const controller = new AbortController()
          // Leaving at a random moment is the careless client under test, not a wait.
          const abortAfterMs = random() * 60
          const timer = random() < 0.8 ? setTimeout(() => controller.abort(), abortAfterMs) : undefined
          try {
            const response = await chat(gateway, prompt, { stream: true, signal: controller.signal })
            const reader = response.body!.getReader()
            const stopAtRead = Math.floor(random() * 12)
            for (let read = 0;; read++) {
              if (read === stopAtRead && random() < 0.5) {
                await reader.cancel()
                break
              }
              if ((await reader.read()).done) break
            }
          } catch {
            // the client left
          } finally {
            clearTimeout(timer)
          }
        }
      }
      const abandonedBefore = upstream.abandoned.length
      await Promise.all(Array.from({ length: 20 }, client))
      // A client that left stopped the upstream's stream too, at least where no other client shared it.
      assert.ok(upstream.abandoned.length > abandonedBefore, "no upstream stream was stopped by a client leaving")
      assert.equal(gateway.child.exitCode, null, gateway.output())
      assert.equal((await fetch(`${gateway.url}/healthz`)).status, 200)
      assert.doesNotMatch(gateway.output(), /outside any request|ERR_INVALID_STATE/)
      let cached = 0
      for (const prompt of prompts) {
        const response = await chat(gateway, prompt, { stream: true, headers: { "cache-control": "only-if-cached" } })
        const text = await response.text()
        if (response.status === 504) continue
        assert.equal(response.status, 200, text)
        cached++
        // Whatever the cache kept is the whole answer, never the part a client stayed for.
        for (const word of stormWords(prompt, 30)) assert.ok(text.includes(word), `${prompt}: cached without ${word}`)
        assert.match(text, /data: \[DONE\]/)
      }
      assert.ok(cached > 0, "some storm answers completed and were cached")
    })

    for (const status of [300, 301, 302, 303, 307, 308]) {
      it(`refuses an upstream's ${status} redirect with a 502 that says so, and the prompt goes nowhere else`, async () => {
        const response = await chat(gateway, `redirect:${status}:${runtime}`)
        assert.equal(response.status, 502)
        assert.match(await errorMessage(response), new RegExp(`upstream answered ${status}, a redirect.*not followed`))
        assert.deepEqual(upstream.redirected, [])
      })
    }

    for (const encoding of encodings) {
      for (const kind of ["json", "sse"] as const) {
        it(`refuses a ${encoding} bomb (${kind}) without inflating it: a 502 that says why, memory flat`, async () => {
          const before = await rssBytes(gateway.child.pid!)
          const response = await chat(gateway, `bomb:${encoding}:${kind}:${runtime}`, { stream: kind === "sse" })
          assert.equal(response.status, 502)
          assert.match(await errorMessage(response), new RegExp(`content-encoding ${encoding}.*not inflated`))
          // A bomb that were inflated would add 256 MiB at least (it added 2 GB before the fix).
          const grown = (await rssBytes(gateway.child.pid!)) - before
          assert.ok(grown < 128 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1024 / 1024)} MiB`)
          // Refused once: a bomb is not retried.
          assert.equal(upstream.calls.get(`bomb:${encoding}:${kind}:${runtime}`), 1)
        })
      }
    }

    it("refuses an answer past max_upstream_body_bytes with a 502 and does not retry it", async () => {
      const prompt = `big:${2 * MAX_UPSTREAM_BODY_BYTES}:${runtime}`
      const response = await chat(gateway, prompt)
      assert.equal(response.status, 502)
      assert.match(await errorMessage(response), /larger than 4194304 bytes \(max_upstream_body_bytes\)/)
      assert.equal(upstream.calls.get(prompt), 1)
    })

    it("serves an answer past cache_max_entry_bytes but does not cache it", async () => {
      const prompt = `big:${2 * 1024 * 1024}:${runtime}`
      for (let round = 0; round < 2; round++) {
        const response = await chat(gateway, prompt)
        assert.equal(response.status, 200)
        assert.equal(response.headers.get("x-isartor-layer"), "l3")
        const answer = (await response.json()) as { choices: Array<{ message: { content: string } }> }
        assert.equal(answer.choices[0]!.message.content.length, 2 * 1024 * 1024)
      }
      assert.equal(upstream.calls.get(prompt), 2)
    })

    it("reads an endless error body only as far as it needs, once per attempt", async () => {
      const prompt = `errorbody:${64 * 1024 * 1024}:${runtime}`
      const writtenBefore = upstream.errorBytesWritten.length
      const response = await chat(gateway, prompt)
      assert.equal(response.status, 502)
      const attempts = upstream.calls.get(prompt)!
      assert.equal(attempts, 3, "a 500 is retried twice")
      // The fake records what it wrote once each socket has closed, a moment after the gateway let go of it.
      await eventually(() => upstream.errorBytesWritten.length >= writtenBefore + attempts, {
        what: `the upstream to record the ${attempts} error bodies it sent`
      })
      // What the sockets buffered, not 64 MiB a time.
      for (const written of upstream.errorBytesWritten.slice(writtenBefore)) {
        assert.ok(written < 16 * 1024 * 1024, `${written} bytes of the error body were sent`)
      }
    })

    it("passes a long SSE line within max_sse_line_bytes whole, and ends a stream on a longer one", async () => {
      const within = await (await chat(gateway, `longline:${512 * 1024}:${runtime}`, { stream: true })).text()
      assert.ok(within.includes(`"content":"${"y".repeat(512 * 1024)}"`), within.slice(0, 500))
      assert.match(within, /data: \[DONE\]/)
      for (
        const prompt of [`longline:${10 * 1024 * 1024}:${runtime}`, `longline:${64 * 1024 * 1024}:open:${runtime}`]
      ) {
        const before = await rssBytes(gateway.child.pid!)
        const response = await chat(gateway, prompt, { stream: true })
        assert.equal(response.status, 200)
        const text = await response.text()
        assert.match(text, /before the long line/)
        assert.match(text, /longer than 1048576 bytes \(max_sse_line_bytes\)/)
        assert.doesNotMatch(text, /"after"/)
        const grown = (await rssBytes(gateway.child.pid!)) - before
        assert.ok(grown < 128 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1024 / 1024)} MiB`)
      }
    })

    it("lets a stream that keeps sending run past l3_timeout_secs, and ends a silent one at l3_stream_idle_secs", async () => {
      // 60 events 50 ms apart: the stream outlasts l3_timeout_secs, and each gap is a twentieth of
      // l3_stream_idle_secs, so a loaded machine stretching some gaps cannot end it early.
      const paced = await (await chat(gateway, `paced:60:50:${runtime}`, { stream: true })).text()
      for (let index = 0; index < 60; index++) assert.ok(paced.includes(`"content":"${index} "`), `event ${index}`)
      assert.match(paced, /data: \[DONE\]\n\n$/)
      assert.doesNotMatch(paced, /"error"/)
      const stalled = await (await chat(gateway, `stall:${runtime}`, { stream: true })).text()
      assert.match(stalled, /"content":"two "/)
      assert.match(stalled, /no event for 1 s \(l3_stream_idle_secs\)/)
      assert.doesNotMatch(stalled, /\[DONE\]/)
    })

    it("stops promptly on SIGTERM after all of it", async () => {
      gateway.child.kill("SIGTERM")
      const [code] = (await once(gateway.child, "exit")) as [number | null]
      assert.equal(code, 0, gateway.output())
    })
  })
}
