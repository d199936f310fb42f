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

/** What the translation remembers between chunks. */
interface TranslationState {
  readonly context: ResponseContext
  sequence: number
  started: boolean
  /** An error event or the closing events went out: nothing may follow. */
  over: boolean
  finishReason: string | undefined
  usage: Usage | undefined
  model: string
  /** The output items already closed, in output order. */
  readonly done: Array<Json>
  open: OpenItem | undefined
  /** Tool calls by their chunk index, so later pieces of a call find its item. */
  readonly calls: Map<number, OpenItem>
}

const responsesEvent = (state: TranslationState, type: string, data: Json): ResponsesEvent => ({
  event: type,
  data: { type, sequence_number: state.sequence++, ...data }
})

const finishedItem = (item: OpenItem): Json =>
  item.kind === "text"
    ? textItem(item.id, item.text)
    : functionCallItem(item.id, { id: item.callId, name: item.name, arguments: item.text })

/** Closes the open output item, if any: its `.done` events, and it joins the finished output. */
const closeItem = (state: TranslationState): Array<ResponsesEvent> => {
  if (state.open === undefined) return []
  const item = state.open
  state.open = undefined
  const finished = finishedItem(item)
  state.done.push(finished)
  const at = { item_id: item.id, output_index: item.outputIndex }
  const closing = item.kind === "text"
    ? [
      responsesEvent(state, "response.output_text.done", { ...at, content_index: 0, text: item.text, logprobs: [] }),
      responsesEvent(state, "response.content_part.done", {
        ...at,
        content_index: 0,
        part: { type: "output_text", text: item.text, annotations: [], logprobs: [] }
      })
    ]
    : [responsesEvent(state, "response.function_call_arguments.done", { ...at, name: item.name, arguments: item.text })]
  return [
    ...closing,
    responsesEvent(state, "response.output_item.done", { output_index: item.outputIndex, item: finished })
  ]
}

/** Opens a new output item (a message or a function call) at the next output index. */
const openItem = (
  state: TranslationState,
  kind: "text" | "call",
  callId = "",
  name = ""
): Array<ResponsesEvent> => {
  const outputIndex = state.done.length
  const id = itemId(state.context, kind === "text" ? "msg" : "fc", kind === "text" ? outputIndex : state.calls.size)
  state.open = { outputIndex, id, kind, text: "", callId, name }
  const item = kind === "text"
    ? textItem(id, "", "in_progress")
    : functionCallItem(id, { id: callId, name, arguments: "" }, "in_progress")
  const added = [responsesEvent(state, "response.output_item.added", { output_index: outputIndex, item })]
  if (kind === "text") {
    added.push(responsesEvent(state, "response.content_part.added", {
      item_id: id,
      output_index: outputIndex,
      content_index: 0,
      part: { type: "output_text", text: "", annotations: [], logprobs: [] }
    }))
  }
  return added
}

/** A piece of text: into the open message item, opening one when something else was open. */
const textDeltaEvents = (state: TranslationState, text: string): Array<ResponsesEvent> => {
  const out = state.open?.kind === "text" ? [] : [...closeItem(state), ...openItem(state, "text")]
  const item = state.open!
  item.text += text
  out.push(responsesEvent(state, "response.output_text.delta", {
    item_id: item.id,
    output_index: item.outputIndex,
    content_index: 0,
    delta: text,
    logprobs: []
  }))
  return out
}

type ToolCallPieces = NonNullable<NonNullable<NonNullable<OpenAIChunk["choices"]>[number]["delta"]>["tool_calls"]>

/** Tool call pieces: a new index opens a function call item; argument pieces go to the call that is open. */
const toolCallEvents = (state: TranslationState, calls: ToolCallPieces): Array<ResponsesEvent> => {
  const out: Array<ResponsesEvent> = []
  for (const call of calls) {
    const index = call.index ?? 0
    if (!state.calls.has(index)) {
      out.push(
        ...closeItem(state),
        ...openItem(state, "call", String(call.id ?? ""), String(call.function?.name ?? ""))
      )
      state.calls.set(index, state.open!)
    }
    const item = state.calls.get(index)!
    const piece = call.function?.arguments
    if (typeof piece === "string" && piece !== "" && item === state.open) {
      item.text += piece
      out.push(
        responsesEvent(state, "response.function_call_arguments.delta", {
          item_id: item.id,
          output_index: item.outputIndex,
          delta: piece
        })
      )
    }
  }
  return out
}

/** The first events: the response exists, and is in progress. */
const startEvents = (state: TranslationState): Array<ResponsesEvent> => {
  state.started = true
  const initial = responseObject({ ...state.context, model: state.model }, {
    status: "in_progress",
    output: [],
    usage: null
  })
  return [
    responsesEvent(state, "response.created", { response: initial }),
    responsesEvent(state, "response.in_progress", { response: initial })
  ]
}

/** The closing events of a finished stream; `onComplete` gets the finished response. */
const finalEvents = (state: TranslationState, finishReason: string, onComplete: (response: Json) => void) => {
  const closing = closeItem(state)
  const { status, incomplete_details } = statusOf(finishReason)
  const response = responseObject({ ...state.context, model: state.model }, {
    status,
    incomplete_details,
    output: state.done,
    usage: responsesUsage(state.usage)
  })
  onComplete(response)
  return [
    ...closing,
    responsesEvent(state, status === "completed" ? "response.completed" : "response.incomplete", { response })
  ]
}

/**
 * The translator `render` drives: `onChunk` per upstream chunk, `onEnd` at `[DONE]`, `fail` for any other end.
 * `onComplete` receives the finished response (for the store) once `response.completed` has been produced.
 */
export const openAIStreamToResponses = (context: ResponseContext, onComplete: (response: Json) => void) => {
  const state: TranslationState = {
    context,
    sequence: 0,
    started: false,
    over: false,
    finishReason: undefined,
    usage: undefined,
    model: context.model,
    done: [],
    open: undefined,
    calls: new Map()
  }
  const fail = (message: string): Array<ResponsesEvent> => {
    if (state.over) return []
    state.over = true
    return [responsesEvent(state, "error", { code: "upstream_error", message, param: null })]
  }
  return {
    onChunk(chunk: OpenAIChunk): Array<ResponsesEvent> {
      if (state.over) return []
      if (chunk.error) {
        const error = chunk.error
        const message = typeof error === "string" ? error : error.message
        return fail(typeof message === "string" ? message : "upstream error")
      }
      const out: Array<ResponsesEvent> = []
      if (typeof chunk.model === "string" && chunk.model !== "") state.model = chunk.model
      if (!state.started) out.push(...startEvents(state))
      if (chunk.usage) state.usage = chunk.usage as unknown as Usage
      for (const choice of chunk.choices ?? []) {
        if ((choice.index ?? 0) !== 0) continue
        const delta = choice.delta ?? {}
        if (typeof delta.content === "string" && delta.content !== "") {
          out.push(...textDeltaEvents(state, delta.content))
        }
        out.push(...toolCallEvents(state, delta.tool_calls ?? []))
        if (typeof choice.finish_reason === "string") state.finishReason = choice.finish_reason
      }
      return out
    },
    /** The chunk stream said `[DONE]`: the closing events, or an error when no finish reason ever came. */
    onEnd(): Array<ResponsesEvent> {
      if (state.over) return []
      if (!state.started || state.finishReason === undefined) {
        return fail("upstream stream ended before the answer was finished")
      }
      state.over = true
      return finalEvents(state, state.finishReason, onComplete)
    },
    fail
  }
}
