import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { type StreamTap, tapStream } from "../../core/streams/tapStream.ts"

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** An upstream of `chunks`, read one at a time, saying how often it was pulled and why it was cancelled. */
const upstreamOf = (chunks: ReadonlyArray<string>, fail?: Error) => {
  const seen = { pulls: 0, cancelled: undefined as unknown, wasCancelled: false }
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[seen.pulls++]
      if (chunk !== undefined) return controller.enqueue(encoder.encode(chunk))
      if (fail !== undefined) return controller.error(fail)
      controller.close()
    },
    cancel(reason) {
      seen.wasCancelled = true
      seen.cancelled = reason
    }
  }, { highWaterMark: 0 })
  return { stream, seen }
}

const readAll = async (stream: ReadableStream<Uint8Array>) => {
  const reader = stream.getReader()
  let text = ""
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    text += decoder.decode(read.value, { stream: true })
  }
  return text
}

interface Log {
  readonly calls: Array<string>
}

/** Passes every chunk on as it is; ends the client's stream with a `!` when the upstream ends. */
const passThrough: StreamTap<Log> = {
  onRead: (log, { done, value }, controller) => {
    log.calls.push(done ? "done" : "read")
    if (done) {
      controller.enqueue(encoder.encode("!"))
      controller.close()
      return "ended"
    }
    controller.enqueue(value)
    return "wait"
  },
  onFailure: (log, error, controller) => {
    log.calls.push(`failed: ${(error as Error).message}`)
    controller.enqueue(encoder.encode("[broke]"))
    controller.close()
  },
  onCancel: (log, reason) => void log.calls.push(`cancelled: ${String(reason)}`)
}

describe("tapStream", () => {
  it("passes the upstream's bytes on as they are, and tells the tap of the end", async () => {
    const { stream } = upstreamOf(["data: a\n\n", "data: é", "\n\n"])
    const log: Log = { calls: [] }
    assert.equal(await readAll(tapStream(stream, passThrough, log)), "data: a\n\ndata: é\n\n!")
    assert.deepEqual(log.calls, ["read", "read", "read", "done"])
  })

  it("reads the upstream only as the client reads: a client that stops early does not drain it", async () => {
    const { stream, seen } = upstreamOf(Array.from({ length: 100 }, (_, index) => `${index},`))
    const reader = tapStream(stream, passThrough, { calls: [] }).getReader()
    await reader.read()
    await reader.read()
    await new Promise((resolve) => setTimeout(resolve, 20))
    assert.ok(seen.pulls <= 4, `the upstream was pulled ${seen.pulls} times for two reads`)
  })

  it("reads on within one pull while nothing goes out", async () => {
    const { stream } = upstreamOf(["a", "b", "c", "d"])
    // Only every second chunk goes out, joined with the one before it.
    const pairs: StreamTap<{ held: string }> = {
      onRead: (state, { done, value }, controller) => {
        if (done) return (controller.close(), "ended")
        state.held += decoder.decode(value)
        if (state.held.length < 2) return "readOn"
        controller.enqueue(encoder.encode(state.held))
        state.held = ""
        return "wait"
      },
      onFailure: (_, error, controller) => controller.error(error)
    }
    const reader = tapStream(stream, pairs, { held: "" }).getReader()
    assert.equal(decoder.decode((await reader.read()).value), "ab")
    assert.equal(decoder.decode((await reader.read()).value), "cd")
    assert.equal((await reader.read()).done, true)
  })

  it("stops reading the upstream once the tap ended the client's stream", async () => {
    const { stream, seen } = upstreamOf(["keep", "stop", "never read"])
    const untilStop: StreamTap<null> = {
      onRead: (_, { done, value }, controller) => {
        if (done) return (controller.close(), "ended")
        controller.enqueue(value)
        if (decoder.decode(value) !== "stop") return "wait"
        controller.close()
        return "ended"
      },
      onFailure: (_, error, controller) => controller.error(error)
    }
    assert.equal(await readAll(tapStream(stream, untilStop, null)), "keepstop")
    assert.equal(seen.wasCancelled, true)
    assert.equal(seen.pulls, 2)
  })

  it("passes the client's cancel on to the upstream, after telling the tap", async () => {
    const { stream, seen } = upstreamOf(["a", "b", "c"])
    const log: Log = { calls: [] }
    const reader = tapStream(stream, passThrough, log).getReader()
    await reader.read()
    await reader.cancel("client left")
    assert.equal(seen.cancelled, "client left")
    assert.deepEqual(log.calls.slice(-1), ["cancelled: client left"])
  })

  it("ends the client's stream the tap's way when the upstream breaks off", async () => {
    const { stream } = upstreamOf(["a"], new Error("socket reset"))
    const log: Log = { calls: [] }
    assert.equal(await readAll(tapStream(stream, passThrough, log)), "a[broke]")
    assert.deepEqual(log.calls, ["read", "failed: socket reset"])
  })

  it("treats a tap that throws as a failure, and lets the upstream go", async () => {
    const { stream, seen } = upstreamOf(["a", "b", "c"])
    const throwing: StreamTap<Log> = {
      ...passThrough,
      onRead: () => {
        throw new Error("unreadable")
      }
    }
    const log: Log = { calls: [] }
    assert.equal(await readAll(tapStream(stream, throwing, log)), "[broke]")
    assert.deepEqual(log.calls, ["failed: unreadable"])
    assert.equal(seen.wasCancelled, true)
  })

  it("lets a pull stop an upstream that stalls, ending the read it waits on", async () => {
    const stalled = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => undefined) }, { highWaterMark: 0 })
    const timed: StreamTap<{ timer?: ReturnType<typeof setTimeout>; stopped?: Error }> = {
      onPull: (state, stop) => {
        state.timer = setTimeout(() => stop(state.stopped = new Error("idle")), 10)
      },
      onRead: (state, { done }, controller) => {
        clearTimeout(state.timer)
        if (!done) return "wait"
        controller.error(state.stopped)
        return "ended"
      },
      onFailure: (_, error, controller) => controller.error(error)
    }
    await assert.rejects(readAll(tapStream(stalled, timed, {})), /idle/)
  })
})
