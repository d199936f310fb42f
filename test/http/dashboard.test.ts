import assert from "node:assert/strict"
import { readFile } from "node:fs/promises"
import { describe, it } from "node:test"
import { dashboardModule, GENERATED_PATH } from "../../cli/buildDashboard.ts"
import { basePath } from "../../core/http/dashboard/page/api.ts"
import {
  bytes,
  callerName,
  count,
  deflectionOf,
  millis,
  percent,
  uptime,
  usd
} from "../../core/http/dashboard/page/format.ts"
import { type ServerEvent, sseReader } from "../../core/http/dashboard/page/sse.ts"
import { fakeUpstreamGateways } from "../support/gateway.ts"

// The dashboard as the gateway serves it, and the parts of the page that hold no DOM: its number formats and its
// reader of the live events. The page itself, in a browser, is test/http/dashboard.e2e.ts.

const ADMIN_KEY = "admin-key-0123456789"
const GATEWAY_KEY = "gw-secret-key"

const file = fakeUpstreamGateways({
  withAdmin: { env: { ISARTOR__ADMIN_API_KEY: ADMIN_KEY, ISARTOR__GATEWAY_API_KEY: GATEWAY_KEY } },
  withoutAdmin: {}
})

const get = (name: keyof typeof file.gateways, path: string, headers: Record<string, string> = {}) =>
  Promise.resolve(file.gateways[name].gateway.fetch(new Request(`http://gateway.test${path}`, { headers })))

describe("/dashboard", () => {
  it("does not exist without an admin key", async () => {
    for (const path of ["/dashboard", "/dashboard/app.js", "/dashboard/app.css"]) {
      assert.equal((await get("withoutAdmin", path)).status, 404, path)
    }
  })

  it("serves the page and its assets without any key: they hold no data, and the page signs in itself", async () => {
    const page = await get("withAdmin", "/dashboard")
    assert.equal(page.status, 200)
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/)
    const html = await page.text()
    assert.match(html, /<label for="admin-key">Admin key<\/label>/)
    const script = /src="(dashboard\/app\.js\?v=[0-9a-f]+)"/.exec(html)?.[1]
    const styles = /href="(dashboard\/app\.css\?v=[0-9a-f]+)"/.exec(html)?.[1]
    assert.ok(script && styles, "the page links its script and styles by version")
    const js = await get("withAdmin", `/${script}`)
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/)
    // uPlot is in the bundle, with its licence notice: nothing is fetched from elsewhere.
    assert.match(await js.text(), /uPlot 1\.6\.32 \(MIT Licensed\)/)
    const css = await get("withAdmin", `/${styles}`)
    assert.match(css.headers.get("content-type") ?? "", /^text\/css/)
    assert.match(await css.text(), /\.uplot/)
  })

  it("lets the page load only its own script and talk only to its own gateway", async () => {
    const page = await get("withAdmin", "/dashboard")
    const policy = page.headers.get("content-security-policy") ?? ""
    assert.match(policy, /script-src 'self'/)
    assert.match(policy, /connect-src 'self'/)
    assert.match(policy, /frame-ancestors 'none'/)
    assert.equal(page.headers.get("x-content-type-options"), "nosniff")
  })

  it("answers a revalidation of the same version with 304, and sends /dashboard/ to /dashboard", async () => {
    const page = await get("withAdmin", "/dashboard")
    const etag = page.headers.get("etag") ?? ""
    assert.equal((await get("withAdmin", "/dashboard", { "if-none-match": etag })).status, 304)
    const slash = await get("withAdmin", "/dashboard/")
    assert.equal(slash.status, 308)
    assert.equal(new URL(slash.headers.get("location") ?? "", "http://gateway.test/dashboard/").pathname, "/dashboard")
  })

  it("is served from a module that is up to date with the page's sources (npm run build:dashboard)", async () => {
    assert.equal(await readFile(GENERATED_PATH, "utf8"), await dashboardModule())
  })
})

describe("the dashboard's live events reader", () => {
  const read = (chunks: ReadonlyArray<string>) => {
    const events: Array<ServerEvent> = []
    const feed = sseReader((event) => events.push(event))
    for (const chunk of chunks) feed(chunk)
    return events
  }

  it("reads events split anywhere across chunks, with CRLF or LF line ends", () => {
    const stream = "event: request\r\ndata: {\"a\":1}\r\n\r\n: ping\n\nevent: overview\ndata: {\"b\":2}\n\n"
    const whole = read([stream])
    assert.deepEqual(whole, [{ event: "request", data: "{\"a\":1}" }, { event: "overview", data: "{\"b\":2}" }])
    for (let cut = 1; cut < stream.length; cut++) {
      assert.deepEqual(read([stream.slice(0, cut), stream.slice(cut)]), whole, `cut at ${cut}`)
    }
  })

  it("joins multi-line data, names an unnamed event `message`, and skips comments and unfinished events", () => {
    assert.deepEqual(read(["data: one\ndata:two\n\n: comment\n\ndata: unfinished\n"]), [
      { event: "message", data: "one\ntwo" }
    ])
  })
})

describe("the dashboard's figures", () => {
  it("writes rates, money, counts, sizes, latencies and uptimes in one fixed format", () => {
    assert.equal(percent(0.625), "62.5 %")
    assert.equal(percent(0), "0.0 %")
    assert.equal(percent(null), "–")
    assert.equal(usd(0), "$0.00")
    assert.equal(usd(0.00042), "$0.0004")
    assert.equal(usd(1234.5), "$1,234.50")
    assert.equal(count(12345), "12,345")
    assert.equal(count(2_500_000), "2.5M")
    assert.equal(bytes(40960), "40.0 KiB")
    assert.equal(millis(0.4), "0.40 ms")
    assert.equal(millis(250), "250 ms")
    assert.equal(uptime(812), "13 min 32 s")
    assert.equal(uptime(2 * 86400 + 3 * 3600 + 5), "2 d 3 h")
  })

  it("names a caller by its label, else by the start of its scope hash", () => {
    assert.equal(callerName("c914bfaac2a7d5e1f0b2", "team-web"), "team-web")
    assert.equal(callerName("c914bfaac2a7d5e1f0b2"), "c914bfaac2a7…")
    assert.equal(callerName("a-rather-long-team-label"), "a-rather-long-team-label")
  })

  it("counts L1a, L1b and L2 as deflected, L3 and pass-through as not", () => {
    assert.equal(deflectionOf({ l1a: 10, l1b: 3, l2: 0, l3: 8, pass: 0 }), 13 / 21)
    assert.equal(deflectionOf({}), 0)
  })

  it("finds the gateway's routes beside the page, under a path prefix too", () => {
    assert.equal(basePath("/dashboard"), "")
    assert.equal(basePath("/isartor/dashboard/"), "/isartor")
  })
})
