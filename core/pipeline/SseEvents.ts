/** One server-sent event as it arrived: its exact text, to pass on untouched, and the fields a reader needs. */
export interface SseEvent {
  /** The event's text, the blank line that ends it included. */
  readonly raw: string
  readonly event: string | undefined
  /** The data lines joined by "\n"; undefined for a block without data (a comment, a keep-alive). */
  readonly data: string | undefined
}

const lineEnd = /\r\n|\r|\n/g

/**
 * Cuts an SSE text stream into whole events as it arrives. A relay that rewrites an event (to scrub it, or to end
 * the stream on it) must hold back a half-arrived one; `idle` says when nothing is held back, so the bytes just fed
 * can be forwarded as they are, without re-encoding.
 */
export class SseSplitter {
  private readonly decoder = new TextDecoder()
  private buffer = ""
  /** Where the first line not yet read starts, in `buffer`. */
  private position = 0
  private event: string | undefined
  private data: string | undefined

  /** The events one read of a byte stream completes; the last read (`done`) also gives up what is held back. */
  read(result: ReadableStreamReadResult<Uint8Array>): Array<SseEvent> {
    if (result.done) return this.finish(this.decoder.decode())
    return this.push(this.decoder.decode(result.value, { stream: true }))
  }

  /** The events that `text` completes, in order. */
  push(text: string): Array<SseEvent> {
    this.buffer += text
    const events: Array<SseEvent> = []
    let eventStart = 0
    lineEnd.lastIndex = this.position
    for (let match = lineEnd.exec(this.buffer); match !== null; match = lineEnd.exec(this.buffer)) {
      // A CR at the very end may be the first half of a CRLF: wait for the next text.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break
      const line = this.buffer.slice(this.position, match.index)
      this.position = match.index + match[0].length
      if (line !== "") {
        this.readField(line)
        continue
      }
      events.push({ raw: this.buffer.slice(eventStart, this.position), event: this.event, data: this.data })
      eventStart = this.position
      this.event = undefined
      this.data = undefined
    }
    this.buffer = this.buffer.slice(eventStart)
    this.position -= eventStart
    return events
  }

  /**
   * The stream ended: the event still held back, if it has data. The spec drops an event whose blank line never
   * came; a relay is kinder to keep it (`data: [DONE]` with one newline is still an end), framed properly.
   */
  finish(text = ""): Array<SseEvent> {
    const events = this.push(text)
    const rest = this.buffer.slice(this.position).replace(/\r$/, "")
    if (rest !== "") this.readField(rest)
    if (this.data !== undefined) {
      const raw = this.buffer.replace(/(\r\n|\r|\n)?$/, "\n\n")
      events.push({ raw, event: this.event, data: this.data })
    }
    this.buffer = ""
    this.position = 0
    this.event = undefined
    this.data = undefined
    return events
  }

  /** True when every character fed so far belongs to an event already returned. */
  get idle(): boolean {
    return this.buffer === ""
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
