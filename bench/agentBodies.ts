// Claude-Code- and Codex-shaped request bodies of a chosen size, grown from the recorded sessions in
// test/fixtures/clients/: their system prompt, tools and first turns as recorded, then a history of tool calls and
// their results (files read, commands run) until the body reaches the size asked for, then a last user turn holding
// `marker`, which the bench replaces so that every request is new.
import { readFileSync } from "node:fs"
import { projectRoot } from "../test/support/processes.ts"

export type AgentShape = "claude" | "codex"

interface Recorded {
  readonly path: string
  readonly headers: Record<string, string>
  readonly body: Record<string, unknown>
}
const recorded = (file: string): Recorded =>
  (JSON.parse(readFileSync(`${projectRoot}test/fixtures/clients/${file}`, "utf8")) as Array<Recorded>)[0]!

/** Lines that read like a source file or a command's output, different for every turn. */
const fileText = (turn: number, bytes: number) => {
  const lines: Array<string> = []
  let size = 0
  for (let line = 0; size < bytes; line++) {
    const text = line % 7 === 0
      ? `// step ${turn}.${line}: keep the request as bytes while it is only forwarded`
      : `  const value${turn}_${line} = await load("src/module${turn % 13}/part${line}.ts", { retries: ${line % 5} })`
    lines.push(text)
    size += text.length + 1
  }
  return lines.join("\n").slice(0, bytes)
}

const claudeTurn = (turn: number, bytes: number): Array<unknown> => [
  {
    role: "assistant",
    content: [
      { type: "text", text: `Reading the next file for step ${turn}.` },
      {
        type: "tool_use",
        id: `toolu_bench${turn}`,
        name: "Read",
        input: { file_path: `/home/user/project/src/f${turn}.ts` }
      }
    ]
  },
  {
    role: "user",
    content: [{ type: "tool_result", tool_use_id: `toolu_bench${turn}`, content: fileText(turn, bytes) }]
  }
]

const codexTurn = (turn: number, bytes: number): Array<unknown> => [
  {
    type: "function_call",
    name: "exec_command",
    arguments: JSON.stringify({ cmd: `sed -n 1,200p src/f${turn}.ts` }),
    call_id: `call_bench${turn}`
  },
  { type: "function_call_output", call_id: `call_bench${turn}`, output: fileText(turn, bytes) }
]

/** The history grows in turns of about this size: 40 turns for a 164 KB Claude Code body, as the issue measured. */
const TURN_BYTES = 2800

const grow = (fixed: number, targetBytes: number, turn: (index: number, bytes: number) => Array<unknown>) => {
  const history: Array<unknown> = []
  let size = fixed
  for (let index = 0; size < targetBytes; index++) {
    const bytes = Math.max(64, Math.min(TURN_BYTES, targetBytes - size - 300))
    const items = turn(index, bytes)
    history.push(...items)
    size += JSON.stringify(items).length + 1
  }
  return history
}

export interface AgentRequest {
  readonly shape: AgentShape
  /** The gateway's path for it. */
  readonly path: string
  readonly headers: Record<string, string>
  /** The body, holding `marker` once. */
  readonly body: string
}

const keptHeaders = (headers: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(headers).filter(([name]) => /^(anthropic-|x-stainless-|user-agent$|originator$|x-app$)/.test(name))
  )

export const agentRequest = (shape: AgentShape, targetKb: number, marker: string): AgentRequest => {
  const target = targetKb * 1024
  if (shape === "claude") {
    const { headers, body } = recorded("claude-code.json")
    const last = {
      role: "user",
      content: [{ type: "text", text: `Now apply the change to step ${marker}.`, cache_control: { type: "ephemeral" } }]
    }
    const messages = body.messages as Array<unknown>
    const fixed = JSON.stringify({ ...body, messages: [...messages, last] }).length
    const text = JSON.stringify({ ...body, messages: [...messages, ...grow(fixed, target, claudeTurn), last] })
    return { shape, path: "/v1/messages", headers: keptHeaders(headers), body: text }
  }
  const { headers, body } = recorded("codex.json")
  const last = { type: "message", role: "user", content: [{ type: "input_text", text: `Continue with ${marker}.` }] }
  const input = body.input as Array<unknown>
  const fixed = JSON.stringify({ ...body, input: [...input, last] }).length
  const text = JSON.stringify({ ...body, input: [...input, ...grow(fixed, target, codexTurn), last] })
  return { shape, path: "/v1/responses", headers: keptHeaders(headers), body: text }
}
