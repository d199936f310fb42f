/** Chat completions → OpenAI Responses API objects: the `response` a client reads, and its output items. */
import type { Completion, Usage } from "../../domain/Completion.ts"
import type { Json } from "../openai.ts"

/** What a rendered response echoes of its request, and its identity. */
export interface ResponseContext {
  /** `resp_…`: fresh for every answer, cached or not (each is a node a later `previous_response_id` can name). */
  readonly id: string
  /** Seconds since the epoch. */
  readonly createdAt: number
  /** The client's Responses body, as sent. */
  readonly request: Json
  readonly model: string
}

export const newResponseId = (): string => `resp_${crypto.randomUUID().replaceAll("-", "")}`

/** Output item ids derive from the response's, so a replay of one stored response names its items the same way. */
export const itemId = (context: ResponseContext, prefix: "msg" | "fc", index: number) =>
  `${prefix}_${context.id.slice(5)}${index}`

export const responsesUsage = (usage: Usage | undefined): Json | null => {
  if (usage === undefined) return null
  const inputDetails = usage.prompt_tokens_details as Json | undefined
  const outputDetails = usage.completion_tokens_details as Json | undefined
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: Number(inputDetails?.cached_tokens ?? 0) },
    output_tokens: usage.completion_tokens,
    output_tokens_details: { reasoning_tokens: Number(outputDetails?.reasoning_tokens ?? 0) },
    total_tokens: usage.total_tokens
  }
}

/** `finish_reason` → the response's status and, when it stopped short, why. */
export const statusOf = (
  finishReason: string | null | undefined
): { status: string; incomplete_details: Json | null } =>
  finishReason === "length"
    ? { status: "incomplete", incomplete_details: { reason: "max_output_tokens" } }
    : finishReason === "content_filter"
    ? { status: "incomplete", incomplete_details: { reason: "content_filter" } }
    : { status: "completed", incomplete_details: null }

export const textItem = (id: string, text: string, status = "completed"): Json => ({
  type: "message",
  id,
  status,
  role: "assistant",
  content: text === "" && status !== "completed"
    ? []
    : [{ type: "output_text", text, annotations: [], logprobs: [] }]
})

export const functionCallItem = (
  id: string,
  call: { readonly id: string; readonly name: string; readonly arguments: string },
  status = "completed"
): Json => ({ type: "function_call", id, call_id: call.id, name: call.name, arguments: call.arguments, status })

/** The response object around `output`, echoing the request's settings as the Responses API does. */
export const responseObject = (
  context: ResponseContext,
  fields: { status: string; output: ReadonlyArray<Json>; usage: Json | null; incomplete_details?: Json | null }
): Json => {
  const request = context.request
  return {
    id: context.id,
    object: "response",
    created_at: context.createdAt,
    status: fields.status,
    background: false,
    error: null,
    incomplete_details: fields.incomplete_details ?? null,
    instructions: request.instructions ?? null,
    max_output_tokens: request.max_output_tokens ?? null,
    metadata: request.metadata ?? {},
    model: context.model,
    output: fields.output,
    parallel_tool_calls: request.parallel_tool_calls ?? true,
    previous_response_id: request.previous_response_id ?? null,
    reasoning: request.reasoning ?? { effort: null, summary: null },
    store: request.store ?? true,
    temperature: request.temperature ?? null,
    text: request.text ?? { format: { type: "text" } },
    tool_choice: request.tool_choice ?? "auto",
    tools: request.tools ?? [],
    top_p: request.top_p ?? null,
    truncation: request.truncation ?? "disabled",
    usage: fields.usage,
    user: request.user ?? null
  }
}

/** A whole completion as a Responses API `response`. */
export const toResponseObject = (completion: Completion, context: ResponseContext): Json => {
  const choice = completion.choices[0]
  const message = choice?.message
  const output: Array<Json> = []
  const text = typeof message?.content === "string" ? message.content : ""
  if (text !== "") output.push(textItem(itemId(context, "msg", 0), text))
  for (const [index, call] of (message?.tool_calls ?? []).entries()) {
    output.push(functionCallItem(itemId(context, "fc", index), { id: call.id, ...call.function }))
  }
  return responseObject({ ...context, model: completion.model || context.model }, {
    ...statusOf(choice?.finish_reason),
    output,
    usage: responsesUsage(completion.usage)
  })
}

/** The assistant's turn in Chat Completions form, for the stored conversation a later request continues. */
export const assistantTurnOf = (response: Json): Json => {
  const output = (response.output as Array<Json> | undefined) ?? []
  const text = output
    .filter((item) => item.type === "message")
    .flatMap((item) => (item.content as Array<Json>).map((part) => String(part.text ?? "")))
    .join("")
  const calls = output.filter((item) => item.type === "function_call").map((item) => ({
    id: item.call_id,
    type: "function",
    function: { name: item.name, arguments: item.arguments }
  }))
  return {
    role: "assistant",
    content: text === "" && calls.length > 0 ? null : text,
    ...(calls.length > 0 ? { tool_calls: calls } : {})
  }
}
