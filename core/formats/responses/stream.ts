/** OpenAI `chat.completion.chunk`s → the Responses API's typed stream events, one chunk at a time. */
import type { Usage } from "../../domain/Completion.ts"
import type { Json, OpenAIChunk } from "../openai.ts"
import {
  functionCallItem,
  itemId,
  type ResponseContext,
  responseObject,
  responsesUsage,
  statusOf,
  textItem
} from "./response.ts"

export interface ResponsesEvent {
  readonly event: string
  readonly data: Json
}

interface OpenItem {
  readonly outputIndex: number
  readonly id: string
  readonly kind: "text" | "call"
  text: string
  callId: string
  name: string
}

/**
 * The translator `render` drives: `onChunk` per upstream chunk, `onEnd` at `[DONE]`, `fail` for any other end.
 * `onComplete` receives the finished response (for the store) once `response.completed` has been produced.
 */
export const openAIStreamToResponses = (context: ResponseContext, onComplete: (response: Json) => void) => {
  let sequence = 0
  let started = false
  let over = false
  let finishReason: string | undefined
  let usage: Usage | undefined
  let model = context.model
  const done: Array<Json> = []
  let open: OpenItem | undefined
  const calls = new Map<number, OpenItem>()
  const event = (type: string, data: Json): ResponsesEvent => ({
    event: type,
    data: { type, sequence_number: sequence++, ...data }
  })
  const shell = (status: string, output: ReadonlyArray<Json>) =>
    responseObject({ ...context, model }, { status, output, usage: null })

  const finishedItem = (item: OpenItem): Json =>
    item.kind === "text"
      ? textItem(item.id, item.text)
      : functionCallItem(item.id, { id: item.callId, name: item.name, arguments: item.text })

  const close = (): Array<ResponsesEvent> => {
    if (open === undefined) return []
    const item = open
    open = undefined
    const finished = finishedItem(item)
    done.push(finished)
    const at = { item_id: item.id, output_index: item.outputIndex }
    const closing = item.kind === "text"
      ? [
        event("response.output_text.done", { ...at, content_index: 0, text: item.text, logprobs: [] }),
        event("response.content_part.done", {
          ...at,
          content_index: 0,
          part: { type: "output_text", text: item.text, annotations: [], logprobs: [] }
        })
      ]
      : [event("response.function_call_arguments.done", { ...at, name: item.name, arguments: item.text })]
    return [...closing, event("response.output_item.done", { output_index: item.outputIndex, item: finished })]
  }

  const openItem = (kind: "text" | "call", callId = "", name = ""): Array<ResponsesEvent> => {
    const outputIndex = done.length
    const id = itemId(context, kind === "text" ? "msg" : "fc", kind === "text" ? outputIndex : calls.size)
    open = { outputIndex, id, kind, text: "", callId, name }
    const item = kind === "text"
      ? textItem(id, "", "in_progress")
      : functionCallItem(id, { id: callId, name, arguments: "" }, "in_progress")
    const added = [event("response.output_item.added", { output_index: outputIndex, item })]
    if (kind === "text") {
      added.push(event("response.content_part.added", {
        item_id: id,
        output_index: outputIndex,
        content_index: 0,
        part: { type: "output_text", text: "", annotations: [], logprobs: [] }
      }))
    }
    return added
  }

  const fail = (message: string): Array<ResponsesEvent> => {
    if (over) return []
    over = true
    return [event("error", { code: "upstream_error", message, param: null })]
  }

  return {
    onChunk(chunk: OpenAIChunk): Array<ResponsesEvent> {
      if (over) return []
      if (chunk.error) {
        const error = chunk.error
        const message = typeof error === "string" ? error : error.message
        return fail(typeof message === "string" ? message : "upstream error")
      }
      const out: Array<ResponsesEvent> = []
      if (typeof chunk.model === "string" && chunk.model !== "") model = chunk.model
      if (!started) {
        started = true
        const initial = shell("in_progress", [])
        out.push(event("response.created", { response: initial }), event("response.in_progress", { response: initial }))
      }
      if (chunk.usage) usage = chunk.usage as unknown as Usage
      for (const choice of chunk.choices ?? []) {
        if ((choice.index ?? 0) !== 0) continue
        const delta = choice.delta ?? {}
        if (typeof delta.content === "string" && delta.content !== "") {
          if (open?.kind !== "text") out.push(...close(), ...openItem("text"))
          open!.text += delta.content
          out.push(event("response.output_text.delta", {
            item_id: open!.id,
            output_index: open!.outputIndex,
            content_index: 0,
            delta: delta.content,
            logprobs: []
          }))
        }
        for (const call of delta.tool_calls ?? []) {
          const index = call.index ?? 0
          if (!calls.has(index)) {
            out.push(...close(), ...openItem("call", String(call.id ?? ""), String(call.function?.name ?? "")))
            calls.set(index, open!)
          }
          const item = calls.get(index)!
          const piece = call.function?.arguments
          if (typeof piece === "string" && piece !== "" && item === open) {
            item.text += piece
            out.push(
              event("response.function_call_arguments.delta", {
                item_id: item.id,
                output_index: item.outputIndex,
                delta: piece
              })
            )
          }
        }
        if (typeof choice.finish_reason === "string") finishReason = choice.finish_reason
      }
      return out
    },
    /** The chunk stream said `[DONE]`: the closing events, or an error when no finish reason ever came. */
    onEnd(): Array<ResponsesEvent> {
      if (over) return []
      if (!started || finishReason === undefined) return fail("upstream stream ended before the answer was finished")
      over = true
      const closing = close()
      const { status, incomplete_details } = statusOf(finishReason)
      const response = responseObject({ ...context, model }, {
        status,
        incomplete_details,
        output: done,
        usage: responsesUsage(usage)
      })
      onComplete(response)
      return [
        ...closing,
        event(status === "completed" ? "response.completed" : "response.incomplete", { response })
      ]
    },
    fail
  }
}
