/**
 * A server-sent events reader for a fetched stream: `EventSource` cannot send the admin key as a header, so the page
 * reads `/admin/events` with `fetch` and splits the text here, as the SSE specification frames it.
 */

export interface ServerEvent {
  readonly event: string
  readonly data: string
}

/** Returns a function to feed decoded text to, in chunks of any size; each complete event goes to `onEvent`. */
export const sseReader = (onEvent: (event: ServerEvent) => void): (chunk: string) => void => {
  let buffer = ""
  let name = ""
  let data: Array<string> = []
  const line = (text: string) => {
    if (text === "") {
      if (data.length > 0) onEvent({ event: name === "" ? "message" : name, data: data.join("\n") })
      name = ""
      data = []
      return
    }
    if (text.startsWith(":")) return
    const colon = text.indexOf(":")
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? "" : text.slice(colon + 1)
    if (value.startsWith(" ")) value = value.slice(1)
    if (field === "event") name = value
    else if (field === "data") data.push(value)
  }
  return (chunk) => {
    buffer += chunk
    for (;;) {
      const end = buffer.search(/\r\n|\r|\n/)
      // A lone "\r" at the end may be the first half of "\r\n": wait for the next chunk.
      if (end === -1 || (buffer[end] === "\r" && end === buffer.length - 1)) return
      const text = buffer.slice(0, end)
      buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1))
      line(text)
    }
  }
}
