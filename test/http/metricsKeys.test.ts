import assert from "node:assert/strict"
import { createHash } from "node:crypto"
import { describe, it } from "node:test"
import { withTestGateway } from "../support/gateway.ts"

// `/metrics` behind the gateway's keys: the labelled `gateway_keys` open it as `gateway_api_key` does.

const WEB_KEY = "gw-team-web-0123456789"
const SHARED_KEY = "gw-shared-key-0123456789"
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

const scrape = (url: string, key?: string) =>
  fetch(`${url}/metrics`, key === undefined ? {} : { headers: { authorization: `Bearer ${key}` } })
    .then(async (response) => ({ status: response.status, text: await response.text() }))

describe("/metrics and the gateway keys", () => {
  it("takes a labelled gateway key when no other key is set, and refuses none or a wrong one", () =>
    withTestGateway({ ISARTOR__GATEWAY_KEYS: `team-web=sha256:${sha256(WEB_KEY)}` }, async ({ url }) => {
      const labelled = await scrape(url, WEB_KEY)
      assert.equal(labelled.status, 200)
      assert.match(labelled.text, /isartor_build_info/)
      assert.equal((await scrape(url)).status, 401)
      assert.equal((await scrape(url, "gw-not-a-key-0123456789")).status, 401)
    }))

  it("takes the gateway key and the labelled keys alike", () =>
    withTestGateway({
      ISARTOR__GATEWAY_API_KEY: SHARED_KEY,
      ISARTOR__GATEWAY_KEYS: `team-web=sha256:${sha256(WEB_KEY)}`
    }, async ({ url }) => {
      assert.equal((await scrape(url, SHARED_KEY)).status, 200)
      assert.equal((await scrape(url, WEB_KEY)).status, 200)
      assert.equal((await scrape(url, `${SHARED_KEY}x`)).status, 401)
    }))
})
