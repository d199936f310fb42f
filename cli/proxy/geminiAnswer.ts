import type { Answer } from "../../core/domain/Answer.ts"
import type { Completion } from "../../core/domain/Completion.ts"
import type { OpenAIChunk } from "../../core/formats/openai.ts"
import { answerHeaders } from "../../core/http/render.ts"
import { errorMessage, SseSplitter } from "../../core/streams/SseEvents.ts"

// The pipeline's answers (OpenAI chat completions, whole or as chunk SSE) in Gemini's wire format, for a client
// that asked Gemini (`generateContent`, `streamGenerateContent?alt=sse`) or Code Assist (the same, wrapped).

const FINISH: Record<string, string> = {
  stop: "STOP",
  length: "MAX_TOKENS",
  content_filter: "SAFETY",
  tool_calls: "STOP",
  function_call: "STOP"
}

type Json = Record<string, unknown>

const usageMetadata = (usage: Completion["usage"]) =>
  usage === undefined ? {} : {
    usageMetadata: {
      promptTokenCount: usage.prompt_tokens,
      candidatesTokenCount: usage.completion_tokens,
      totalTokenCount: usage.total_tokens
    }
  }

/** A whole completion as a `GenerateContentResponse`. */
export const toGeminiResponse = (completion: Completion): Json => ({
  candidates: completion.choices.map((choice) => ({
    content: { role: "model", parts: [{ text: choice.message.content ?? "" }] },
    finishReason: FINISH[choice.finish_reason ?? "stop"] ?? "STOP",
    index: choice.index
  })),
  ...usageMetadata(completion.usage),
  modelVersion: completion.model,
  ...(completion.id ? { responseId: completion.id } : {})
})

const encoder = new TextEncoder()
const event = (value: Json) => encoder.encode(`data: ${JSON.stringify(value)}\r\n\r\n`)

/** OpenAI chunk SSE → Gemini SSE, one event per chunk that says something; an error event ends it, as Gemini's do. */
const toGeminiSse = (openai: ReadableStream<Uint8Array>, wrap: (response: Json) => Json) => {
  const reader = openai.getReader()
  const splitter = new SseSplitter()
  const translate = (data: string): { readonly out: Array<Json>; readonly over: boolean } => {
    if (data === "[DONE]") return { out: [], over: true }
    let chunk: OpenAIChunk & { usage?: Completion["usage"]; model?: string; id?: string }
    try {
      chunk = JSON.parse(data)
    } catch {
      return { out: [{ error: { code: 502, message: "upstream sent a stream event that is not JSON" } }], over: true }
    }
    if (chunk.error) return { out: [{ error: { code: 502, message: errorMessage(data) } }], over: true }
    const candidates = (chunk.choices ?? []).flatMap((choice) => {
      const text = choice.delta?.content ?? ""
      const finish = choice.finish_reason ? FINISH[choice.finish_reason] ?? "STOP" : undefined
      if (text === "" && finish === undefined) return []
      return [{
        content: { role: "model", parts: [{ text }] },
        ...(finish ? { finishReason: finish } : {}),
        index: choice.index ?? 0
      }]
    })
    const usage = chunk.usage ? usageMetadata(chunk.usage) : {}
    if (candidates.length === 0 && chunk.usage === undefined) return { out: [], over: false }
    return {
      out: [wrap({ candidates, ...usage, ...(chunk.model ? { modelVersion: chunk.model } : {}) })],
      over: false
    }
  }
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const result = await reader.read()
        const out: Array<Json> = []
        let over = false
        for (const { data } of splitter.read(result)) {
          if (data === undefined || over) continue
          const step = translate(data)
          out.push(...step.out)
          over = step.over
        }
        for (const value of out) controller.enqueue(event(value))
        if (over || result.done) {
          controller.close()
          if (!result.done) await reader.cancel().catch(() => undefined)
          return
        }
        if (out.length > 0) return
      }
    },
    cancel: (reason) => reader.cancel(reason)
  })
}

/** An answer in Gemini's format (`wrap`: Code Assist's envelope), as JSON or, for a stream request, as SSE. */
export const renderGemini = (answer: Answer, stream: boolean, wrap: (response: Json) => Json): Response => {
  const headers = answerHeaders(answer)
  if (answer._tag === "Stream") {
    return new Response(toGeminiSse(answer.body, wrap), {
      headers: { "content-type": "text/event-stream", ...headers }
    })
  }
  const response = wrap(toGeminiResponse(JSON.parse(answer.completion) as Completion))
  return stream
    ? new Response(event(response), { headers: { "content-type": "text/event-stream", ...headers } })
    : new Response(JSON.stringify(response), { headers: { "content-type": "application/json", ...headers } })
}

const STATUS: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  429: "RESOURCE_EXHAUSTED",
  504: "DEADLINE_EXCEEDED"
}

/** The gateway's own failure (the host unreachable, say) as Google APIs say one. */
export const geminiError = (status: number, message: string, headers: Headers): Response => {
  const out = new Headers(headers)
  out.set("content-type", "application/json")
  return new Response(
    JSON.stringify({ error: { code: status, message, status: STATUS[status] ?? "UNAVAILABLE" } }),
    { status, headers: out }
  )
}
