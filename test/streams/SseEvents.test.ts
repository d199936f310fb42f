import fc from "fast-check"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { type SseEvent, SseLineTooLong, SseSplitter } from "../../core/streams/SseEvents.ts"

/**
 * The events of a whole SSE text, read as the spec reads them (lines end at CRLF, CR or LF; a blank line ends an
 * event; `data` lines join with "\n"), plus the splitter's kindness at the end: an unfinished event with data is
 * kept, framed with a blank line. Written out plainly, to hold the incremental splitter to.
 */
const reference = (text: string): Array<SseEvent> => {
  const events: Array<SseEvent> = []
  let event: string | undefined
  let data: string | undefined
  let raw = ""
  const lineEnd = /\r\n|\r|\n/g
  let start = 0
  for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
    const line = text.slice(start, match.index)
    raw += text.slice(start, lineEnd.lastIndex)
    start = lineEnd.lastIndex
    if (line === "") {
      events.push({ raw, event, data })
      raw = ""
      event = undefined
      data = undefined
      continue
    }
    const colon = line.indexOf(":")
    if (colon === 0) continue
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? "" : line[colon + 1] === " " ? line.slice(colon + 2) : line.slice(colon + 1)
    if (field === "data") data = data === undefined ? value : `${data}\n${value}`
    else if (field === "event") event = value
  }
  const rest = text.slice(start)
  if (rest !== "") {
    const colon = rest.indexOf(":")
    const field = colon < 0 ? rest : rest.slice(0, colon)
    const value = colon < 0 ? "" : rest[colon + 1] === " " ? rest.slice(colon + 2) : rest.slice(colon + 1)
    if (colon !== 0 && field === "data") data = data === undefined ? value : `${data}\n${value}`
    else if (colon !== 0 && field === "event") event = value
  }
  if (data !== undefined) events.push({ raw: (raw + rest).replace(/(\r\n|\r|\n)?$/, "\n\n"), event, data })
  return events
}

/** SSE-like text: fields, comments, blank lines, every kind of line end, and characters of 1 to 4 UTF-8 bytes. */
const sseText = fc.array(
  fc.tuple(
    fc.constantFrom("data: ", "data:", "event: ", ": ", "id: ", "", "data"),
    fc.string({ unit: fc.constantFrom("a", "b", " ", ":", "é", "€", "𝄞", "{", "}"), maxLength: 12 }),
    fc.constantFrom("\n", "\r\n", "\r", "\n\n", "\r\n\r\n", "\r\r")
  ).map(([field, value, end]) => field + value + end),
  { maxLength: 25 }
).chain((lines) =>
  fc.tuple(fc.constant(lines.join("")), fc.constantFrom("", "data: tail", "data: tail\r", "event: x\n"))
).map(([text, tail]) => text + tail)

/** `bytes` cut at the given offsets: reads that split lines, CRLFs and characters anywhere. */
const cutAt = (bytes: Uint8Array, offsets: ReadonlyArray<number>): Array<Uint8Array> => {
  const points = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b)
  const pieces: Array<Uint8Array> = []
  let from = 0
  for (const point of [...points, bytes.length]) {
    pieces.push(bytes.subarray(from, point))
    from = point
  }
  return pieces
}

describe("SseSplitter", () => {
  it("finds the same events however the bytes are cut into reads", () => {
    fc.assert(
      fc.property(sseText, fc.array(fc.nat(), { maxLength: 12 }), (text, offsets) => {
        const splitter = new SseSplitter()
        const events: Array<SseEvent> = []
        for (const piece of cutAt(new TextEncoder().encode(text), offsets)) {
          events.push(...splitter.read({ done: false, value: piece }))
        }
        events.push(...splitter.read({ done: true, value: undefined }))
        assert.deepEqual(events, reference(text))
      }),
      { numRuns: 2000, seed: 20261207 }
    )
  })

  it("is idle exactly when every character fed belongs to an event already returned", () => {
    fc.assert(
      fc.property(sseText, fc.array(fc.nat(), { maxLength: 12 }), (text, offsets) => {
        const splitter = new SseSplitter()
        let fed = ""
        let returned = ""
        for (const piece of cutAt(new TextEncoder().encode(text), offsets)) {
          fed += new TextDecoder().decode(piece)
          returned += splitter.push(new TextDecoder().decode(piece)).map((event) => event.raw).join("")
          assert.equal(splitter.idle, fed === returned, JSON.stringify({ fed, returned }))
        }
      }),
      // Each piece decoded alone: fed and returned are compared on the same text, wherever a cut falls.
      { numRuns: 1000, seed: 20261207 }
    )
  })

  it("refuses a line longer than its limit, whole or arriving in pieces, and takes one at the limit", () => {
    const limit = 100
    const atLimit = `data: ${"x".repeat(limit - 6)}\n\n`
    assert.deepEqual(new SseSplitter(limit).push(atLimit).map((event) => event.data), ["x".repeat(limit - 6)])
    assert.throws(() => new SseSplitter(limit).push(`data: ${"x".repeat(limit)}\n\n`), SseLineTooLong)
    const pieces = new SseSplitter(limit)
    assert.throws(() => {
      for (let index = 0; index < 50; index++) pieces.push("yyyyy")
    }, /longer than 100 bytes \(max_sse_line_bytes\)/)
  })

  it("holds a line that never ends in pieces, without joining it on every read", () => {
    // 4 MiB in 4 KiB reads: joined on every read this is ≈ 2 GiB of copying; in pieces, one pass.
    const splitter = new SseSplitter()
    const piece = "z".repeat(4096)
    splitter.push("data: ")
    for (let index = 0; index < 1024; index++) assert.deepEqual(splitter.push(piece), [])
    const [event] = splitter.push("\n\n")
    assert.equal(event!.data!.length, 4 * 1024 * 1024)
  })
})
