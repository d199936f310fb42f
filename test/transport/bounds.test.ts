import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { BodyTooLarge, guardedStream, type TransportLimits } from "../../core/transport/bounds.ts"

const encoder = new TextEncoder()

const limits = (streamIdleMs: number, maxBodyBytes: number): TransportLimits => ({
  timeoutMs: 60_000,
  streamIdleMs,
  maxBodyBytes,
  maxSseLineBytes: 1024
})

/** An upstream that sends `chunks`, then stalls (or ends when `end`), saying whether it was cancelled. */
const upstreamOf = (chunks: ReadonlyArray<string>, end: boolean) => {
  const seen = { pulls: 0, cancelled: undefined as unknown }
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[seen.pulls++]
      if (chunk !== undefined) return controller.enqueue(encoder.encode(chunk))
      if (end) return controller.close()
      return new Promise(() => undefined)
    },
    cancel(reason) {
      seen.cancelled = reason ?? "cancelled"
    }
  }, { highWaterMark: 0 })
  return { stream, seen }
}

const readAll = async (stream: ReadableStream<Uint8Array>) => {
  const reader = stream.getReader()
  let text = ""
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    text += new TextDecoder().decode(read.value)
  }
  return text
}

describe("guardedStream", () => {
  it("passes a stream within bounds on as it is, read only as the client reads", async () => {
    const { stream, seen } = upstreamOf(["data: a\n\n", "data: b\n\n", "data: c\n\n"], true)
    const guarded = guardedStream(stream, limits(60_000, 1024), () => assert.fail("not aborted"))
    await new Promise((resolve) => setTimeout(resolve, 10))
    assert.equal(seen.pulls, 0)
    assert.equal(await readAll(guarded), "data: a\n\ndata: b\n\ndata: c\n\n")
  })

  it("ends a silent stream with the idle error, aborting the call and letting the upstream go", async () => {
    const { stream, seen } = upstreamOf(["data: a\n\n"], false)
    const aborted: Array<Error> = []
    const guarded = guardedStream(stream, limits(30, 1024), (reason) => aborted.push(reason))
    await assert.rejects(readAll(guarded), /no event for 0.03 s \(l3_stream_idle_secs\)/)
    assert.equal(aborted.length, 1)
    assert.equal(seen.cancelled, aborted[0])
  })

  it("ends a stream past max_upstream_body_bytes and stops reading it", async () => {
    const { stream, seen } = upstreamOf(["12345", "67890", "never read"], true)
    const guarded = guardedStream(stream, limits(60_000, 8), () => assert.fail("not aborted"))
    await assert.rejects(readAll(guarded), (error) => error instanceof BodyTooLarge && error.limit === 8)
    assert.notEqual(seen.cancelled, undefined)
    assert.equal(seen.pulls, 2)
  })
})
