import { Redacted } from "effect"
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { inspect } from "node:util"
import type { AppConfigShape } from "../../core/config/ConfigSpec.ts"
import { ANTHROPIC_VERSION, connect } from "../../core/providers/anthropic.ts"
import { makeBase } from "../../core/providers/shared/openaiCompatible.ts"
import type { ProviderSettings } from "../../core/providers/shared/ProviderDefinition.ts"
import { transportLimits } from "../../core/transport/bounds.ts"

const KEY = "sk-test-secret-0123456789abcdef"

const settings = (apiKey: string): ProviderSettings => ({
  url: "",
  apiKey: Redacted.make(apiKey),
  keyVariable: "ISARTOR__EXTERNAL_LLM_API_KEY",
  limits: transportLimits({
    l3_timeout_secs: 30,
    l3_stream_idle_secs: 30,
    max_upstream_body_bytes: 1_000_000,
    max_sse_line_bytes: 100_000
  }),
  model: undefined,
  // Neither builder reads the rest of the configuration.
  config: {} as AppConfigShape
})

/** What a debug log line or an error carrying the object would show of it. */
const shown = (value: object) => [inspect(value, { depth: Infinity, showHidden: true }), JSON.stringify(value)]

describe("a provider's key stays out of the objects its calls share", () => {
  it("an Anthropic connection shows no key, and still sends it over any forwarded one", () => {
    const connection = connect(settings(KEY))
    for (const text of shown(connection)) assert.ok(!text.includes(KEY), text)
    assert.equal(connection.configured, true)
    assert.deepEqual(connection.headers({ "x-api-key": "client's", "anthropic-version": "2099-01-01" }), {
      "x-api-key": KEY,
      "anthropic-version": "2099-01-01"
    })
    assert.deepEqual(connection.headers(), { "x-api-key": KEY, "anthropic-version": ANTHROPIC_VERSION })
    assert.equal(connect(settings("")).configured, false)
  })

  it("an OpenAI-compatible base shows no key, and still sends it over any forwarded one", () => {
    const options = { id: "openai", defaultUrl: "https://api.openai.com/v1", requiresKey: true }
    const base = makeBase(options, settings(KEY))
    for (const text of shown(base)) assert.ok(!text.includes(KEY), text)
    assert.equal(base.configured, true)
    assert.deepEqual(base.withKey({ authorization: "Bearer client's", accept: "application/json" }), {
      authorization: `Bearer ${KEY}`,
      accept: "application/json"
    })
    const keyless = makeBase(options, settings(""))
    assert.equal(keyless.configured, false)
    assert.deepEqual(keyless.withKey({ accept: "application/json" }), { accept: "application/json" })
  })
})
