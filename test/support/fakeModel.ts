/**
 * The fake providers' "model": one tiny deterministic answerer behind every wire format, and the readers that turn
 * each format's request into the conversation it sees — so a test can tell whether a translation kept the system
 * prompt, the turns and the tool results.
 */
/** The conversation as the model sees it, whatever the wire format. */
export interface Conversation {
  readonly system: string
  readonly turns: ReadonlyArray<Turn>
  readonly tools: ReadonlyArray<string>
}

export interface Turn {
  readonly role: "user" | "assistant"
  readonly text: string
  readonly toolResult?: string
}

export type Reply = { readonly kind: "text"; readonly text: string } | {
  readonly kind: "tool"
  readonly id: string
  readonly name: string
  readonly args: Record<string, unknown>
}

export const PROMPT_TOKENS = 11

/** The model: a tool result is reported; with tools offered it calls the first; otherwise it describes what it was told. */
export const think = (conversation: Conversation): Reply => {
  const last = conversation.turns[conversation.turns.length - 1]
  if (last?.toolResult !== undefined) return { kind: "text", text: `Tool said: ${last.toolResult}` }
  if (conversation.tools.length > 0) {
    return { kind: "tool", id: "call_fake_1", name: conversation.tools[0]!, args: { query: last?.text ?? "" } }
  }
  return {
    kind: "text",
    text: `Answer to: ${last?.text ?? ""} | system: ${
      conversation.system || "none"
    } | turns: ${conversation.turns.length}`
  }
}

/** What answers behind every wire format: a reply to the conversation (or to the request body itself). */
export interface FakeModel {
  readonly promptTokens: number
  readonly reply: (conversation: Conversation, body: Record<string, any>) => Reply
}

export const conversationModel: FakeModel = { promptTokens: PROMPT_TOKENS, reply: think }

export const words = (text: string) => text.split(/(?<= )/)
export const completionTokens = (reply: Reply) => (reply.kind === "text" ? words(reply.text).length : 5)

export type Json = Record<string, any>
export const textOf = (content: unknown): string =>
  typeof content === "string" ? content : Array.isArray(content) ? content.map((p: Json) => p.text ?? "").join("") : ""

// ---- reading each wire format into a Conversation ----

export const fromOpenAI = (body: Json): Conversation => ({
  system: body.messages.filter((m: Json) => m.role === "system" || m.role === "developer").map((m: Json) =>
    textOf(m.content)
  ).join("\n\n"),
  turns: body.messages.filter((m: Json) => m.role !== "system" && m.role !== "developer").map((m: Json) =>
    m.role === "tool"
      ? { role: "user", text: "", toolResult: textOf(m.content) }
      : { role: m.role === "assistant" ? "assistant" : "user", text: textOf(m.content) }
  ),
  tools: (body.tools ?? []).map((t: Json) => t.function.name)
})

export const fromAnthropic = (body: Json): Conversation => ({
  system: typeof body.system === "string" ? body.system : textOf(body.system),
  turns: body.messages.map((m: Json) => {
    const blocks: Array<Json> = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content
    const result = blocks.find((b) => b.type === "tool_result")
    return result
      ? {
        role: "user",
        text: "",
        toolResult: typeof result.content === "string" ? result.content : textOf(result.content)
      }
      : { role: m.role, text: textOf(blocks.filter((b) => b.type === "text")) }
  }),
  tools: (body.tools ?? []).map((t: Json) => t.name)
})

export const fromGemini = (body: Json): Conversation => ({
  system: (body.systemInstruction?.parts ?? []).map((p: Json) => p.text).join(""),
  turns: body.contents.map((c: Json) => {
    const response = c.parts.find((p: Json) => p.functionResponse)
    return response
      ? {
        role: "user",
        text: "",
        // Gemini CLI and the SDK's examples answer `{"output": …}`; others `{"content": …}`.
        toolResult: String(
          response.functionResponse.response.output ?? response.functionResponse.response.content ??
            JSON.stringify(response.functionResponse.response)
        )
      }
      : { role: c.role === "model" ? "assistant" : "user", text: c.parts.map((p: Json) => p.text ?? "").join("") }
  }),
  tools: (body.tools?.[0]?.functionDeclarations ?? []).map((f: Json) => f.name)
})
