// The context optimiser's saving on sessions grown from the recorded Claude Code and Codex requests
// (test/context/sessions.ts): each turn's request tokens (o200k_base, the whole JSON body) and the tokens L2.5 keeps
// from the provider, per upstream format. Token counts, not timings: the figures do not move with the machine's load.
//   node --import tsx bench/context.ts [--turns 6]
import { Exit } from "effect"
import { countTokens } from "gpt-tokenizer/encoding/o200k_base"
import { optimiseBody } from "../core/context/ContextOptimizer.ts"
import type { WireFormat } from "../core/context/textSlots.ts"
import { fromAnthropicBody } from "../core/formats/anthropic/messagesBody.ts"
import { fromResponsesRequest } from "../core/formats/responses/request.ts"
import { claudeCodeSession, codexSession } from "../test/context/sessions.ts"

type Json = Record<string, unknown>
const flag = process.argv.indexOf("--turns")
const turns = flag > 0 ? Number(process.argv[flag + 1]) : 6
const count = (text: string) => countTokens(text, { disallowedSpecial: new Set() })
const context = { defaultModel: "m", tenant: "t", cacheRead: true, cacheWrite: true }
const canonical = (body: Json): Json => {
  const decoded = fromAnthropicBody(body, context)
  if (Exit.isFailure(decoded)) throw new Error("the recorded Claude Code body no longer decodes")
  return decoded.value.body as Json
}

const cases: ReadonlyArray<readonly [string, WireFormat, ReadonlyArray<Json>]> = [
  ["Claude Code → Anthropic (breakpoint on the last turn, as sent)", "anthropic", claudeCodeSession(turns)],
  ["Claude Code → Anthropic (breakpoints on the fixed prefix only)", "anthropic", claudeCodeSession(turns, "recorded")],
  ["Claude Code → OpenAI-format upstream", "openai", claudeCodeSession(turns).map(canonical)],
  ["Codex → Responses body", "responses", codexSession(turns)],
  ["Codex → OpenAI-format upstream", "openai", codexSession(turns).map((body) => fromResponsesRequest(body, []).body)]
]

console.log(`| session (${turns} turns) | turn 1 sent / saved | turn ${turns} sent / saved | whole session saved |`)
console.log("|---|---|---|---|")
for (const [name, format, bodies] of cases) {
  let sent = 0
  let saved = 0
  const rows = bodies.map((body) => {
    const tokens = count(JSON.stringify(body))
    const kept = optimiseBody(format, body, count).saved
    sent += tokens
    saved += kept
    return `${tokens} / ${kept}`
  })
  console.log(`| ${name} | ${rows[0]} | ${rows.at(-1)} | ${saved} of ${sent} (${(100 * saved / sent).toFixed(1)} %) |`)
}

// What it costs a request: the optimiser over the largest Codex body above, median of 41 runs (tokenizer loaded).
const [, format, bodies] = cases[3]!
const largest = bodies.at(-1)!
const timings: Array<number> = []
for (let round = 0; round < 41; round++) {
  const start = performance.now()
  optimiseBody(format, largest, count)
  timings.push(performance.now() - start)
}
timings.sort((a, b) => a - b)
const { loadavg } = await import("node:os")
console.log(
  `\noptimiseBody on the ${turns}-turn Codex body (${JSON.stringify(largest).length} bytes): median ${
    timings[20]!.toFixed(2)
  } ms over 41 runs (load average ${loadavg()[0]!.toFixed(1)})`
)
