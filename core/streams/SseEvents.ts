/** One server-sent event as it arrived: its exact text, to pass on untouched, and the fields a reader needs. */
export interface SseEvent {
  /** The event's text, the blank line that ends it included. */
  readonly raw: string
  readonly event: string | undefined
  /** The data lines joined by "\n"; undefined for a block without data (a comment, a keep-alive). */
  readonly data: string | undefined
}

const lineEnd = /\r\n|\r|\n/g

/** A line of an event stream longer than the reader takes: the stream is ended, the line never kept whole. */
export class SseLineTooLong extends Error {
  constructor(readonly limit: number) {
    super(`an event-stream line is longer than ${limit} bytes (max_sse_line_bytes)`)
  }
}

/**
 * Cuts an SSE text stream into whole events as it arrives. A relay that rewrites an event (to scrub it, or to end
 * the stream on it) must hold back a half-arrived one; `idle` says when nothing is held back, so the bytes just fed
 * can be forwarded as they are, without re-encoding. Each character is looked at once: a line still arriving is
 * kept in pieces, joined when it ends (rescanning it on every read made a long line quadratic).
 */
export class SseSplitter {
  private readonly decoder = new TextDecoder()
  /** The unfinished line, in the pieces it arrived in; its last may end with a CR that may be half a CRLF. */
  private line: Array<string> = []
  private lineLength = 0
  /** The whole lines of the event not yet ended, as they arrived (its `raw`). */
  private lines: Array<string> = []
  private event: string | undefined
  private data: string | undefined

  /** `maxLineLength`: the longest line taken; a longer one throws `SseLineTooLong`. */
  constructor(private readonly maxLineLength = Number.POSITIVE_INFINITY) {}

  /** The events one read of a byte stream completes; the last read (`done`) also gives up what is held back. */
  read(result: ReadableStreamReadResult<Uint8Array>): Array<SseEvent> {
    if (result.done) return this.finish(this.decoder.decode())
    return this.push(this.decoder.decode(result.value, { stream: true }))
  }

  /** The events that `text` completes, in order. */
  push(text: string): Array<SseEvent> {
    const events: Array<SseEvent> = []
    let start = 0
    // A line held back on a CR: it ended there, with the LF that may open this text.
    if (this.lineLength > 0 && this.line[this.line.length - 1]!.endsWith("\r") && text !== "") {
      start = text.charCodeAt(0) === 10 ? 1 : 0
      const held = this.line.join("")
      this.line = []
      this.lineLength = 0
      this.endLine(held.slice(0, -1), held + text.slice(0, start), events)
    }
    lineEnd.lastIndex = start
    for (let match = lineEnd.exec(text); match !== null; match = lineEnd.exec(text)) {
      // A CR at the very end may be the first half of a CRLF: held until the next text says.
      if (match[0] === "\r" && match.index === text.length - 1) break
      const held = this.lineLength > 0 ? this.line.join("") : ""
      this.line = []
      this.lineLength = 0
      this.endLine(held + text.slice(start, match.index), held + text.slice(start, lineEnd.lastIndex), events)
      start = lineEnd.lastIndex
    }
    if (start < text.length) this.hold(text.slice(start))
    return events
  }

  /**
   * The stream ended: the event still held back, if it has data. The spec drops an event whose blank line never
   * came; a relay is kinder to keep it (`data: [DONE]` with one newline is still an end), framed properly.
   */
  finish(text = ""): Array<SseEvent> {
    const events = this.push(text)
    let rest = this.line.join("")
    // A CR held in case an LF followed: nothing follows now, so it ended its line.
    if (rest.endsWith("\r")) {
      this.line = []
      this.lineLength = 0
      this.endLine(rest.slice(0, -1), rest, events)
      rest = ""
    }
    if (rest !== "") this.readField(rest)
    if (this.data !== undefined) {
      const raw = (this.lines.join("") + rest).replace(/(\r\n|\r|\n)?$/, "\n\n")
      events.push({ raw, event: this.event, data: this.data })
    }
    this.line = []
    this.lineLength = 0
    this.lines = []
    this.event = undefined
    this.data = undefined
    return events
  }

  /** True when every character fed so far belongs to an event already returned. */
  get idle(): boolean {
    return this.lineLength === 0 && this.lines.length === 0
  }

  private hold(piece: string) {
    this.lineLength += piece.length
    if (this.lineLength > this.maxLineLength) throw new SseLineTooLong(this.maxLineLength)
    this.line.push(piece)
  }

  /** A line ended: `content` without its line break, `raw` with it. A blank line ends the event. */
  private endLine(content: string, raw: string, events: Array<SseEvent>) {
    if (content.length > this.maxLineLength) throw new SseLineTooLong(this.maxLineLength)
    this.lines.push(raw)
    if (content !== "") return this.readField(content)
    events.push({ raw: this.lines.join(""), event: this.event, data: this.data })
    this.lines = []
    this.event = undefined
    this.data = undefined
  }

  private readField(line: string) {
    const colon = line.indexOf(":")
    if (colon === 0) return // a comment
    const field = colon < 0 ? line : line.slice(0, colon)
    const value = colon < 0 ? "" : line.charCodeAt(colon + 1) === 32 ? line.slice(colon + 2) : line.slice(colon + 1)
    if (field === "data") this.data = this.data === undefined ? value : `${this.data}\n${value}`
    else if (field === "event") this.event = value
  }
}

/** An event's bytes as text: `data` split over as many `data:` lines as it has lines. */
export const sseText = (data: string, event?: string): string =>
  `${event !== undefined ? `event: ${event}\n` : ""}${data.split("\n").map((line) => `data: ${line}`).join("\n")}\n\n`

/** The OpenAI-style error event a client's SDK raises on; `code` says what went wrong with the stream. */
export const streamErrorEvent = (message: string, code: string): string =>
  sseText(JSON.stringify({ error: { message, type: "upstream_error", code } }))

/** The message of an error value: `{ message }`, or the string itself. */
export const messageOf = (error: unknown): string => {
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === "string" ? message : typeof error === "string" ? error : "upstream error"
}

/** The message of an `event: error`, whose data may be `{"error": …}`, the error itself, or plain text. */
export const errorMessage = (data: string): string => {
  try {
    const parsed = JSON.parse(data) as { error?: unknown } | null
    return messageOf(parsed?.error ?? parsed)
  } catch {
    return data
  }
}

/** True when `bytes` end with a line break, so no character of them can be held back half-decoded. */
export const endsWithLineBreak = (bytes: Uint8Array): boolean => {
  const last = bytes[bytes.length - 1]
  return last === 10 || last === 13
}
