// A failing scenario as commands a person can paste (curl, with node for bodies that are not plain text), and a
// one-line summary of a request for a list of suspects.
import type { RuntimeName } from "../processes.ts"
import { FUZZ_GATEWAY_KEY, FUZZ_MAX_BODY_BYTES, type FuzzRequest, type Scenario } from "./request.ts"

/** One line about a request, for a list of suspects: where it went and what its body was like. */
export const summary = (request: FuzzRequest) => {
  const body = request.body === undefined
    ? "no body"
    : typeof request.body === "string"
    ? `${request.body.length} chars: ${compactString(request.body.slice(0, 20_000)).slice(0, 200)}`
    : `${request.body.length} bytes`
  return `${request.target}, ${request.transport}: ${request.method} ${request.path.slice(0, 60)} (${body})`
}

/**
 * The shrunk case as shell commands: a curl per request, the body from a node expression when it is not plain
 * text. `runtime`: the server the gateway ran on (`npm run start:<runtime>`).
 */
export const reproducer = (scenario: Scenario, runtime: RuntimeName = "node"): string =>
  scenario.map((request) => {
    const headers = request.headers.map(([name, value]) => ` -H ${shellQuote(`${name}: ${value}`)}`).join("")
    const curl = `curl -sS -X ${request.method} ${shellQuote(`http://localhost:8080${request.path}`)}${headers}`
    const via =
      `# ${request.target} gateway${
        request.target === "secured" ? ` (ISARTOR__GATEWAY_API_KEY=${FUZZ_GATEWAY_KEY})` : ""
      }` +
      `${
        request.target === "semantic" ? " (L1b on)" : ""
      }, ${request.transport}, ${request.delivery} body, ISARTOR__MAX_BODY_BYTES=${FUZZ_MAX_BODY_BYTES}${
        runtime === "node" ? "" : `, npm run start:${runtime}`
      }`
    if (request.body === undefined) return `${via}\n${curl}`
    const text = typeof request.body === "string" ? request.body : undefined
    const plain = text !== undefined && text.length <= 2_000 && /^[\x20-\x7e]*$/.test(text)
    const chunked = request.delivery === "whole" ? "" : " -H 'transfer-encoding: chunked'"
    if (plain) return `${via}\n${curl}${chunked} --data-binary ${shellQuote(text)}`
    const expression = text !== undefined
      ? compactString(text)
      : `Buffer.from(${JSON.stringify(Buffer.from(request.body).toString("base64"))}, "base64")`
    return `${via}\nnode -e ${shellQuote(`process.stdout.write(${expression})`)} | ${curl}${chunked} --data-binary @-`
  }).join("\n")

const shellQuote = (value: string) => `'${value.replace(/'/g, "'\\''")}'`

/** A JS expression for a string, with long runs of a repeated unit written as `.repeat(n)`. */
const compactString = (value: string): string => {
  const parts: Array<string> = []
  let plain = ""
  for (let i = 0; i < value.length;) {
    let best: { unit: string; count: number } | undefined
    for (let size = 1; size <= 24 && i + size <= value.length; size++) {
      const unit = value.slice(i, i + size)
      let count = 1
      while (value.startsWith(unit, i + count * size)) count++
      if (count * size >= 64 && (!best || count * size > best.count * best.unit.length)) best = { unit, count }
    }
    if (best) {
      if (plain) parts.push(JSON.stringify(plain))
      plain = ""
      parts.push(`${JSON.stringify(best.unit)}.repeat(${best.count})`)
      i += best.count * best.unit.length
    } else plain += value[i++]
  }
  if (plain || parts.length === 0) parts.push(JSON.stringify(plain))
  return parts.join(" + ")
}
