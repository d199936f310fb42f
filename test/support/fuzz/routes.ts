// Where a request goes and what it carries: methods and paths (known, odd, unknown), and headers (credentials, cache
// control, the similarity threshold, content types), as the bytes a header can hold on the wire.
import fc from "fast-check"
import { chatPaths, FUZZ_GATEWAY_KEY } from "./request.ts"
import { text } from "./values.ts"

const knownPaths = [...Object.keys(chatPaths), "/healthz", "/health", "/v1/models"]
const unknownPaths = fc.oneof(
  fc.constantFrom(
    "/",
    "/v1",
    "/v1/chat/completions/",
    "/V1/CHAT/COMPLETIONS",
    "/v1/messages/count_tokens",
    "/v1/messages/",
    "/api/chat?x=1&x=2",
    "/v1/messages?beta=true",
    "/healthz/",
    "//v1/chat/completions",
    "/v1/../v1/models",
    "/%00",
    "/%ZZ",
    "/v1/chat/completions%2F",
    `/${"a".repeat(5_000)}`,
    "/%C3%A9",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/responses/resp_x",
    "/metrics"
  ),
  fc.array(text.filter((segment) => segment.length < 200), { minLength: 1, maxLength: 3 }).map((segments) =>
    `/${segments.map((segment) => encodeURIComponent(segment.replace(/\p{Cs}/gu, "\uFFFD"))).join("/")}`
  )
)
export const route = fc.oneof(
  { weight: 60, arbitrary: fc.constantFrom(...Object.keys(chatPaths)).map((path) => ({ method: "POST", path })) },
  {
    weight: 6,
    arbitrary: fc.constantFrom("/healthz", "/health", "/v1/models").map((path) => ({ method: "GET", path }))
  },
  {
    weight: 6,
    arbitrary: fc.record({
      method: fc.constantFrom("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "PROPFIND", "FOO", "TRACE"),
      path: fc.constantFrom(...knownPaths)
    })
  },
  { weight: 6, arbitrary: fc.record({ method: fc.constantFrom("GET", "POST", "DELETE"), path: unknownPaths }) }
)

const encoder = new TextEncoder()
/** What a header value can carry on the wire: UTF-8 bytes read back as Latin-1, without NUL, CR, LF or controls. */
const byteString = (value: string) =>
  Array.from(encoder.encode(value), (byte) => String.fromCharCode(byte)).join("").replace(
    /[\u0000-\u0008\u000a-\u001f\u007f]/g,
    ""
  )

// Under 1,000 bytes each: Node's own 16 KB limit on a request head (a bare 431) is not the gateway's to answer.
const headerValue = fc.oneof(text.filter((value) => value.length < 300), fc.constant("x".repeat(900))).map(byteString)
export const header: fc.Arbitrary<readonly [string, string]> = fc.oneof(
  fc.constantFrom<readonly [string, string]>(
    ["authorization", `Bearer ${FUZZ_GATEWAY_KEY}`],
    ["authorization", `bearer   ${FUZZ_GATEWAY_KEY}  `],
    ["authorization", "Bearer"],
    ["authorization", "Bearer "],
    ["authorization", "Basic dXNlcjpwYXNz"],
    ["authorization", `Token ${FUZZ_GATEWAY_KEY}`],
    ["x-api-key", FUZZ_GATEWAY_KEY],
    ["x-api-key", ""],
    ["api-key", FUZZ_GATEWAY_KEY],
    ["cache-control", "no-cache"],
    ["cache-control", "no-store"],
    ["cache-control", "No-Cache, NO-STORE"],
    ["cache-control", "max-age=0"],
    ["x-isartor-similarity-threshold", "0"],
    ["x-isartor-similarity-threshold", "1"],
    ["x-isartor-similarity-threshold", "0.5"],
    ["x-isartor-similarity-threshold", "-0.1"],
    ["x-isartor-similarity-threshold", "1.01"],
    ["x-isartor-similarity-threshold", "NaN"],
    ["x-isartor-similarity-threshold", "Infinity"],
    ["x-isartor-similarity-threshold", "0x1"],
    ["x-isartor-similarity-threshold", " 0.9 "],
    ["x-isartor-similarity-threshold", "1e-400"],
    ["x-isartor-similarity-threshold", "0.9, 0.8"],
    ["accept", "text/event-stream"],
    ["accept-encoding", "gzip, br"],
    ["transfer-encoding", "identity"]
  ),
  fc.tuple(
    fc.constantFrom(
      "authorization",
      "x-api-key",
      "api-key",
      "cache-control",
      "x-isartor-similarity-threshold",
      "x-isartor-session-id",
      "content-type",
      "x-unknown"
    ),
    headerValue
  ),
  fc.tuple(fc.double().map(String), fc.constant("x-isartor-similarity-threshold")).map(([value, name]) =>
    [name, value] as const
  )
)
export const contentType = fc.option(
  fc.constantFrom(
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/json; charset=utf-16",
    "",
    "*/*",
    "application/JSON",
    "application/octet-stream"
  ),
  { freq: 6, nil: undefined }
)
