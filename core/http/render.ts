import { Cause } from "effect"
import { createParser } from "eventsource-parser"
import type { ChatRequest, EndpointFamily } from "../ChatRequest.ts"
import { type Completion, completionToSse, firstText } from "../Completion.ts"
import type { BadRequest, ProviderError } from "../errors.ts"
import { openAIStreamToAnthropic, toAnthropicMessage } from "../formats/anthropic.ts"
import type { Answer, LayerName } from "../Pipeline.ts"
import { badRequestResponse, jsonResponse, providerErrorResponse } from "./errors.ts"

const layerNumber: Record<LayerName, 1 | 2 | 3> = { l1a: 1, l1b: 1, l2: 2, l3: 3 }

export const pipelineHeaders = (layer: LayerName, provider?: string): Record<string, string> => ({
  "x-isartor-layer": layer,
  "x-isartor-deflected": String(layer !== "l3"),
  ...(provider ? { "x-isartor-provider": provider } : {})
})

const sse = (body: ReadableStream<Uint8Array>, headers: Record<string, string>) =>
  new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive", ...headers }
  })

const encoder = new TextEncoder()

/** OpenAI chunk SSE → Anthropic Messages SSE, event by event, for `/v1/messages` clients. */
const toAnthropicSse = (openai: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> => {
  const translate = openAIStreamToAnthropic()
  const decoder = new TextDecoder()
  let out: Array<{ event: string; data: unknown }> = []
  const parser = createParser({
    onEvent: (message) => {
      if (message.data !== "[DONE]") out.push(...translate.onChunk(JSON.parse(message.data) as Record<string, unknown>))
    }
  })
  const frame = (events: Array<{ event: string; data: unknown }>) =>
    encoder.encode(events.map(({ event, data }) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`).join(""))
  return openai.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
    transform(bytes, controller) {
      parser.feed(decoder.decode(bytes, { stream: true }))
      if (out.length > 0) controller.enqueue(frame(out))
      out = []
    },
    flush(controller) {
      const errored = out.some((event) => event.event === "error")
      const last = errored ? out : [...out, ...translate.onEnd()]
      if (last.length > 0) controller.enqueue(frame(last))
    }
  }))
}

/** Renders an answer in the format the client asked for. */
export const renderAnswer = (request: ChatRequest, answer: Answer): Response => {
  const headers = pipelineHeaders(answer.layer, answer.provider)
  if (answer._tag === "Complete" && answer.similarity !== undefined) headers["x-isartor-similarity"] = answer.similarity.toFixed(4)
  if (answer._tag === "Complete" && answer.stage !== undefined) headers["x-isartor-l1b-stage"] = answer.stage
  if (answer.routing !== undefined) headers["x-isartor-tier"] = answer.routing.tier
  if (answer._tag === "Stream") return sse(request.family === "anthropic" ? toAnthropicSse(answer.body) : answer.body, headers)
  if (request.family === "openai" && !request.stream) {
    return new Response(answer.completion, { headers: { "content-type": "application/json", ...headers } })
  }
  const completion = JSON.parse(answer.completion) as Completion
  if (request.family === "native") {
    return jsonResponse(200, { layer: layerNumber[answer.layer], message: firstText(completion), model: completion.model || request.model }, headers)
  }
  if (request.family === "anthropic") {
    return request.stream ? sse(toAnthropicSse(completionToSse(completion)), headers) : jsonResponse(200, toAnthropicMessage(completion), headers)
  }
  return sse(completionToSse(completion), headers)
}

/** A typed failure becomes its JSON error in the client's format; anything else is a defect, for `onError`. */
export const renderFailure = (family: EndpointFamily, cause: Cause.Cause<BadRequest | ProviderError>): Response => {
  const failure = Cause.findErrorOption(cause)
  if (failure._tag === "None") throw Cause.squash(cause)
  const error = failure.value
  return error._tag === "BadRequest" ? badRequestResponse(family, error) : providerErrorResponse(family, error, pipelineHeaders("l3"))
}
