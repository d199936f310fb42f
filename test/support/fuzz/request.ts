// What the fuzzer sends: one request (target, transport, method, path, headers, body, delivery), the routes that
// take a chat body, and which API a path speaks (its errors are checked in that API's format).

export type Target = "open" | "secured" | "semantic"
export type Family = "openai" | "anthropic" | "native"

export interface FuzzRequest {
  readonly target: Target
  readonly transport: "in-process" | "socket"
  readonly method: string
  readonly path: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: string | Uint8Array | undefined
  /** `whole` declares a Content-Length; `chunked` and `slow` stream the body in pieces without one. */
  readonly delivery: "whole" | "chunked" | "slow"
}

/** One property run: a request, sometimes sent again or with a small change, so caches hit and near-miss. */
export type Scenario = ReadonlyArray<FuzzRequest>

export const FUZZ_GATEWAY_KEY = "gw-fuzz-key-0123456789"
/** Small, so oversized bodies are cheap to send; prompts of 20–60 KB still fit. */
export const FUZZ_MAX_BODY_BYTES = 65_536

export const chatPaths: Record<string, Family> = {
  "/v1/chat/completions": "openai",
  "/v1/messages": "anthropic",
  "/api/chat": "native"
}

/** The route a request reached, coarsely: one defect on many odd paths is one finding. */
export const routeOf = (request: FuzzRequest) => {
  const pathname = new URL(`http://x${request.path}`).pathname
  const chat = request.method === "POST" && chatPaths[pathname] !== undefined
  if (chat || (request.method === "GET" && ["/healthz", "/health", "/v1/models"].includes(pathname))) {
    return `${request.method} ${pathname}`
  }
  return familyOfPath(request.path) === "anthropic"
    ? "another method or subpath of /v1/messages"
    : "an unknown route or method"
}

export const familyOfPath = (path: string): Family | "other" => {
  const pathname = new URL(`http://x${path}`).pathname
  return pathname === "/v1/messages" || pathname.startsWith("/v1/messages/")
    ? "anthropic"
    : chatPaths[pathname] ?? "other"
}
