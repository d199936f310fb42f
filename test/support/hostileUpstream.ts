import { once } from "node:events"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { PassThrough, Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { constants, createBrotliCompress, createDeflate, createGzip } from "node:zlib"

/**
 * A loopback OpenAI-format upstream that misbehaves on purpose, told how by the last user message of each request
 * (`<behaviour>:<argument>…`), so concurrent requests each get their own: redirects, compression bombs, oversized
 * answers, endless lines, slow and stalled streams, and well-behaved streams for abort storms.
 */
export interface HostileUpstream {
  readonly url: string
  /** Requests that reached the redirect target (none should). */
  readonly redirected: Array<string>
  /** Bytes of each oversized error body actually written before the reader went away. */
  readonly errorBytesWritten: Array<number>
  /** Storm streams whose reader went away before their end. */
  readonly abandoned: Array<string>
  /** Calls per behaviour, by the prompt that named it. */
  readonly calls: Map<string, number>
  close(): Promise<void>
}

export type Encoding = "gzip" | "deflate" | "br"

const compressor = (encoding: Encoding) =>
  encoding === "gzip"
    ? createGzip({ level: 1 })
    : encoding === "deflate"
    ? createDeflate({ level: 1 })
    : createBrotliCompress({ params: { [constants.BROTLI_PARAM_QUALITY]: 1 } })

/** `inflatedBytes` of one repeated byte, compressed: a few hundred KiB to a couple of MiB on the wire. */
export const compressionBomb = async (encoding: Encoding, inflatedBytes: number): Promise<Buffer> => {
  const zeros = Buffer.alloc(1024 * 1024, 0x20)
  const source = new PassThrough()
  const squeeze = compressor(encoding)
  const parts: Array<Buffer> = []
  squeeze.on("data", (part: Buffer) => parts.push(part))
  const done = pipeline(source, squeeze)
  for (let written = 0; written < inflatedBytes; written += zeros.length) {
    if (!source.write(zeros)) await once(source, "drain")
  }
  source.end()
  await done
  return Buffer.concat(parts)
}

export const chunkOf = (content: string, finish: string | null = null) =>
  JSON.stringify({
    id: "chatcmpl-hostile",
    object: "chat.completion.chunk",
    created: 1,
    model: "gpt-4o-mini",
    choices: [{ index: 0, delta: { content }, finish_reason: finish }]
  })

export const completionOf = (content: string) =>
  JSON.stringify({
    id: "chatcmpl-hostile",
    object: "chat.completion",
    created: 1,
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 }
  })

/** The words of a storm answer, so a client can tell a whole one from a cut one. */
export const stormWords = (prompt: string, count: number) =>
  Array.from({ length: count }, (_, index) => `${prompt}-${index} `)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const readBody = async (request: IncomingMessage): Promise<string> => {
  let text = ""
  for await (const chunk of request) text += chunk
  return text
}

const promptOf = (body: string): string => {
  try {
    const messages = (JSON.parse(body) as { messages?: Array<{ content?: unknown }> }).messages ?? []
    const content = messages.at(-1)?.content
    return typeof content === "string" ? content : ""
  } catch {
    return ""
  }
}

/**
 * Writes `stream` to `response` honouring back-pressure, and ends it unless `end` is false (an answer left open);
 * stops quietly when the reader goes away.
 */
const send = async (response: ServerResponse, stream: Readable, end = true) => {
  await pipeline(stream, response, { end }).catch(() => undefined)
}

export const startHostileUpstream = async (bombs: Record<Encoding, Buffer>): Promise<HostileUpstream> => {
  const redirected: Array<string> = []
  const errorBytesWritten: Array<number> = []
  const calls = new Map<string, number>()
  const abandoned: Array<string> = []
  const sse = { "content-type": "text/event-stream", "cache-control": "no-cache" }
  let self = ""

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request)
    if (request.url?.startsWith("/elsewhere")) {
      redirected.push(promptOf(body))
      response.writeHead(200, { "content-type": "application/json" })
      return response.end(completionOf("the prompt went somewhere it should not have"))
    }
    const prompt = promptOf(body)
    calls.set(prompt, (calls.get(prompt) ?? 0) + 1)
    const [behaviour, ...args] = prompt.split(":")
    switch (behaviour) {
      case "storm": {
        // A whole, well-formed stream, sent slowly enough for clients to leave in the middle of it.
        response.writeHead(200, sse)
        response.once("close", () => response.writableFinished || abandoned.push(prompt))
        for (const word of stormWords(prompt, 30)) {
          if (response.destroyed) return
          response.write(`data: ${chunkOf(word)}\n\n`)
          await sleep(2)
        }
        return response.end(`data: ${chunkOf("", "stop")}\n\ndata: [DONE]\n\n`)
      }
      case "redirect": {
        response.writeHead(Number(args[0]), { location: `${self}/elsewhere/v1/chat/completions` })
        return response.end()
      }
      case "bomb": {
        const [encoding, kind] = args as [Encoding, "json" | "sse"]
        response.writeHead(200, {
          "content-type": kind === "sse" ? "text/event-stream" : "application/json",
          "content-encoding": encoding
        })
        return send(response, piecesOf(bombs[encoding]))
      }
      case "big": {
        response.writeHead(200, { "content-type": "application/json" })
        return response.end(completionOf("x".repeat(Number(args[0]))))
      }
      case "longline": {
        // One chunk whose content is a line of the given length; "open" leaves that line without an end.
        response.writeHead(200, sse)
        response.write(`data: ${chunkOf("before the long line")}\n\n`)
        const [head, tail] = chunkOf("\u0000").split("\\u0000") as [string, string]
        const length = Number(args[0])
        const piece = "y".repeat(64 * 1024)
        const line = async function*() {
          yield `data: ${head}`
          for (let written = 0; written < length; written += piece.length) yield piece.slice(0, length - written)
          if (args[1] !== "open") yield `${tail}\n\ndata: ${chunkOf("after", "stop")}\n\ndata: [DONE]\n\n`
        }
        return send(response, Readable.from(line()), args[1] !== "open")
      }
      case "errorbody": {
        // A 500 whose body goes on for `args[0]` bytes: the gateway should stop reading it early.
        response.writeHead(500, { "content-type": "text/plain" })
        const total = Number(args[0])
        const piece = Buffer.alloc(64 * 1024, 0x65)
        let written = 0
        const body = async function*() {
          for (; written < total; written += piece.length) yield piece
        }
        await send(response, Readable.from(body()))
        errorBytesWritten.push(written)
        return
      }
      case "paced": {
        // `args[0]` events, one every `args[1]` ms, then a clean end.
        response.writeHead(200, sse)
        const count = Number(args[0])
        for (let index = 0; index < count && !response.destroyed; index++) {
          response.write(`data: ${chunkOf(`${index} `)}\n\n`)
          await sleep(Number(args[1]))
        }
        return response.end(`data: ${chunkOf("", "stop")}\n\ndata: [DONE]\n\n`)
      }
      case "stall": {
        // Two events, then silence with the connection open.
        response.writeHead(200, sse)
        response.write(`data: ${chunkOf("one ")}\n\n`)
        response.write(`data: ${chunkOf("two ")}\n\n`)
        return
      }
      default: {
        response.writeHead(200, { "content-type": "application/json" })
        return response.end(completionOf(`plain answer to ${prompt}`))
      }
    }
  }

  const sockets = new Set<import("node:net").Socket>()
  const server: Server = createServer((request, response) => {
    handle(request, response).catch(() => response.destroy())
  })
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  server.listen(0, "127.0.0.1")
  await once(server, "listening")
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url: `${self}/v1`,
    redirected,
    errorBytesWritten,
    abandoned,
    calls,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** A buffer as a stream of 64 KiB pieces, so a reader that goes away stops the writes. */
const piecesOf = (buffer: Buffer): Readable =>
  Readable.from((function*() {
    for (let offset = 0; offset < buffer.length; offset += 64 * 1024) yield buffer.subarray(offset, offset + 64 * 1024)
  })())
