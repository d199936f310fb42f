// The checks every response must pass, whatever was sent: an answer, never a 500, errors in the client's format,
// streams that end the way the client's SDK expects.
import { type Family, familyOfPath, type FuzzRequest } from "./request.ts"
import type { Observed } from "./send.ts"

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Why an error body is not what the client's SDK reads, or undefined when it is. */
const errorFormatProblem = (family: Family | "other", body: string): string | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return "error body is not JSON"
  }
  if (family === "anthropic") {
    const error = isObject(parsed) ? parsed.error : undefined
    return isObject(parsed) && parsed.type === "error" && isObject(error) && typeof error.type === "string" &&
        typeof error.message === "string"
      ? undefined
      : "error body is not Anthropic's {type:\"error\",error:{type,message}}"
  }
  const error = isObject(parsed) ? parsed.error : undefined
  return isObject(error) && typeof error.message === "string"
    ? undefined
    : "error body is not OpenAI's {error:{message}}"
}

/** What is wrong with a response, as a short, stable signature (the same defect gives the same text), or undefined. */
export const checkResponse = (request: FuzzRequest, observed: Observed): string | undefined => {
  if (observed.error !== undefined) return `no response (${observed.error.replace(/\d+/g, "N")})`
  if (observed.status === 500) return "status 500"
  if (request.method === "HEAD") return undefined
  // Prometheus' text exposition, not JSON, by design.
  if (
    request.method === "GET" && new URL(`http://x${request.path}`).pathname === "/metrics" && observed.status === 200
  ) {
    return observed.contentType.startsWith("text/plain")
      ? undefined
      : `GET /metrics: content-type ${observed.contentType}`
  }
  const family = familyOfPath(request.path)
  if (observed.status >= 400) {
    const problem = errorFormatProblem(family, observed.body)
    return problem && `status ${observed.status}: ${problem}`
  }
  if (observed.contentType.startsWith("text/event-stream")) {
    if (/^event: error$/m.test(observed.body) || /^data: \{"error"/m.test(observed.body)) {
      return "stream carries an error event"
    }
    const ending = family === "anthropic" ? "event: message_stop" : "data: [DONE]"
    return observed.body.includes(ending) ? undefined : `stream ends without ${ending}`
  }
  try {
    JSON.parse(observed.body)
    return undefined
  } catch {
    return `status ${observed.status}: body is not JSON`
  }
}
