import { readFileSync } from "node:fs"

const recording = (file: string): Array<{ body: Record<string, unknown> }> =>
  JSON.parse(readFileSync(new URL(`../fixtures/clients/${file}`, import.meta.url), "utf8"))
const claudeCodeRecording = recording("claude-code.json")
const codexRecording = recording("codex.json")

/**
 * Sessions grown from the recorded requests (test/fixtures/clients/): turn 1 is the recorded body in a project
 * that has a CLAUDE.md / AGENTS.md (injected as each CLI injects it), and each later turn adds what the CLI adds
 * after a file read — the tool call, its result with the reminder the CLI appends to every read, and the next user
 * message with its own reminder — so the same instruction blocks repeat, unchanged, as they do in a long session.
 */

type Json = Record<string, unknown>

/** A project instruction file as people write them: comments, blank-line runs, trailing spaces and a fence. */
export const PROJECT_INSTRUCTIONS = `# Project instructions

<!-- Keep this file short: agents read it on every request. Last reviewed by the platform team. -->

## Build and test


- Install with \`npm ci\`; never \`npm install\` in CI.   
- Run one test file at a time:

\`\`\`sh
node --import tsx --test   test/http/app.test.ts
# two spaces above are kept: this is a command
\`\`\`



## Style
- TypeScript strict;    no \`any\`.  
- Comments say why, not what.      
- Imports run downhill: \`domain/\` knows no wire format.

<!--
  Reviewers: the section below is generated from docs/ownership.md, do not edit by hand.
  Regenerate with \`npm run owners\`.
-->

## Ownership
- \`core/cache/**\`: the cache team.
- \`core/providers/**\`: the providers team.
- Everything else: ask in #gateway before a large change.


`

/** Claude Code's reminder carrying CLAUDE.md, as 2.1.x words it. */
export const claudeMdReminder = `<system-reminder>
As you answer the user's questions, you can use the following context:
# claudeMd
Codebase and user instructions are shown below. Be sure to adhere to these instructions. IMPORTANT: These instructions OVERRIDE any default behavior and you MUST follow them exactly as written.

Contents of /home/user/project/CLAUDE.md (project instructions, checked into the codebase):

${PROJECT_INSTRUCTIONS}

      IMPORTANT: this context may or may not be relevant to your tasks. You should not respond to this context unless it is highly relevant to your task.
</system-reminder>
`

/** What Claude Code appends to every Read result. */
export const READ_REMINDER = `

<system-reminder>
Whenever you read a file, you should consider whether it would be considered malware. You CAN and SHOULD provide analysis of malware, what it is doing. But you MUST refuse to improve or augment the code. You can still analyze existing code, write reports, or answer questions about the code behavior.
</system-reminder>
`

const TODO_REMINDER = `<system-reminder>
The TodoWrite tool hasn't been used recently. If you're working on tasks that would benefit from tracking progress, consider using the TodoWrite tool to track progress. Also consider cleaning up the todo list if has become stale and no longer matches what you are working on. Only use it if it's relevant to the current work. This is just a gentle reminder - ignore if not applicable. Make sure that you NEVER mention this reminder to the user
</system-reminder>
`

const fileText = (turn: number) => `     1\texport const answer${turn} = ${turn}\n     2\t`

const clone = <T>(value: T): T => structuredClone(value)

/** Drops every `cache_control` in the messages (the system prompt's stay). */
const unmarked = (messages: Array<Json>): Array<Json> =>
  messages.map((message) =>
    Array.isArray(message.content)
      ? {
        ...message,
        content: (message.content as Array<Json>).map(({ cache_control: _cache, ...block }) => block)
      }
      : message
  )

/**
 * The Anthropic bodies of a Claude Code session of `turns` requests. `breakpoints: "moving"` marks the last block
 * of the last message, as Claude Code does; `"recorded"` keeps only the recorded ones (the system prompt and the
 * first turn), as an application that caches just its fixed prefix does.
 */
export const claudeCodeSession = (turns: number, breakpoints: "moving" | "recorded" = "moving"): Array<Json> => {
  const recorded = clone(claudeCodeRecording[0]!.body) as Json
  const messages = recorded.messages as Array<Json>
  const first = messages[0]!.content as Array<Json>
  first.unshift({ type: "text", text: claudeMdReminder })
  const bodies: Array<Json> = [clone(recorded)]
  let history = messages
  for (let turn = 2; turn <= turns; turn++) {
    const id = `toolu_${String(turn).padStart(4, "0")}`
    const added: Array<Json> = [
      { role: "assistant", content: [{ type: "tool_use", id, name: "Read", input: { file_path: `src/f${turn}.ts` } }] },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: id, content: fileText(turn) + READ_REMINDER },
          { type: "text", text: TODO_REMINDER },
          { type: "text", text: `and now file ${turn + 1}` }
        ]
      }
    ]
    history = [...(breakpoints === "moving" ? unmarked(history) : history), ...clone(added)]
    if (breakpoints === "moving") {
      const last = history[history.length - 1]!.content as Array<Json>
      last[last.length - 1] = { ...last[last.length - 1]!, cache_control: { type: "ephemeral" } }
    }
    bodies.push({ ...clone(recorded), messages: clone(history) })
  }
  return bodies
}

/** Codex's AGENTS.md message, as 0.171 sends it. */
const agentsMdMessage = {
  type: "message",
  role: "user",
  content: [{
    type: "input_text",
    text: `# AGENTS.md instructions for /home/user/project\n\n<INSTRUCTIONS>\n${PROJECT_INSTRUCTIONS}\n</INSTRUCTIONS>`
  }]
}

/**
 * The Responses bodies of a Codex session of `turns` requests: each later turn runs a shell command and, as Codex
 * does when it resumes a thread, sends the AGENTS.md and environment messages again before the next prompt.
 */
export const codexSession = (turns: number): Array<Json> => {
  const recorded = clone(codexRecording[0]!.body) as Json
  const input = recorded.input as Array<Json>
  const environment = input.findIndex((item) => JSON.stringify(item).includes("<environment_context>"))
  input.splice(environment, 0, clone(agentsMdMessage))
  const bodies: Array<Json> = [clone(recorded)]
  let history = input
  for (let turn = 2; turn <= turns; turn++) {
    const call = `call_${turn}`
    history = [
      ...history,
      {
        type: "function_call",
        name: "shell",
        arguments: JSON.stringify({ command: ["cat", `f${turn}`] }),
        call_id: call
      },
      { type: "function_call_output", call_id: call, output: fileText(turn) },
      { type: "message", role: "assistant", content: [{ type: "output_text", text: `read f${turn}` }] },
      clone(agentsMdMessage),
      clone(input[environment + 1]!),
      { type: "message", role: "user", content: [{ type: "input_text", text: `and now f${turn + 1}` }] }
    ]
    bodies.push({ ...clone(recorded), input: clone(history) })
  }
  return bodies
}
