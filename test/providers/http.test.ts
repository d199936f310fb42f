import { Redacted } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { retryAfterMs, scrub } from "../../core/transport/http.ts"

describe("upstream error text", () => {
  it("redacts the configured key and anything key-shaped, and leaves ordinary words alone", () => {
    const key = Redacted.make("my-provider-secret-123")
    assert.equal(scrub("rejected my-provider-secret-123 here", key), "rejected [redacted] here")
    assert.equal(
      scrub("Incorrect API key provided: sk-proj-abc123def456.", key),
      "Incorrect API key provided: [redacted]."
    )
    assert.equal(scrub("x-api-key sk-ant-api03-abcdefgh is invalid", key), "x-api-key [redacted] is invalid")
    assert.equal(scrub("API key not valid: AIzaSyA1234567890abcdefghijk", key), "API key not valid: [redacted]")
    assert.equal(
      scrub("skipping the keyboard shortcut: unknown field", key),
      "skipping the keyboard shortcut: unknown field"
    )
  })

  it("reads Retry-After as seconds, as an HTTP date, or retry-after-ms", () => {
    assert.equal(retryAfterMs(new Headers({ "retry-after": "7" })), 7000)
    assert.equal(retryAfterMs(new Headers({ "retry-after-ms": "250", "retry-after": "7" })), 250)
    // An hour ahead, so that however long the machine takes between the two clock readings it is still ahead.
    const inAnHour = new Date(Date.now() + 3_600_000).toUTCString()
    const fromDate = retryAfterMs(new Headers({ "retry-after": inAnHour }))!
    assert.ok(fromDate > 3_500_000 && fromDate <= 3_600_000, String(fromDate))
    assert.equal(retryAfterMs(new Headers()), undefined)
  })
})
