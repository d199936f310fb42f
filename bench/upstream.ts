// A fake OpenAI upstream in its own process, so the load it serves does not share the bench's event loop.
// Usage: node --import tsx bench/upstream.ts [latencyMs]
import { startFakeOpenAI } from "../test/support/fakeOpenAI.ts"

const latencyMs = Number(process.argv[2] ?? 0)
// The fake requires its key as OpenAI does: the one every bench configures its gateways with.
const upstream = await startFakeOpenAI({
  record: false,
  defaultBehaviour: { kind: "ok", delayMs: latencyMs },
  apiKey: "sk-bench-0000000000000000"
})
console.log(`upstream listening on ${upstream.url}`)
process.once("SIGTERM", () => void upstream.close().then(() => process.exit(0)))
