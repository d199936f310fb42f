import assert from "node:assert/strict"
import { existsSync } from "node:fs"
import { copyFile, mkdir } from "node:fs/promises"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import puppeteer, { type Browser, type Page } from "puppeteer-core"
import type { SemanticBackends } from "../../core/Gateway.ts"
import { percent, usd } from "../../core/http/dashboard/page/format.ts"
import type { Overview } from "../../core/http/dashboard/page/types.ts"
import type { ProviderStatus } from "../../core/providers/health/ProviderLink.ts"
import { loadHnswlib } from "../../runtimes/embedding/hnswlib.ts"
import { loadUseLite } from "../../runtimes/embedding/useLite.ts"
import { eventually } from "../support/eventually.ts"
import { type FakeOpenAI, startFakeOpenAI, TEST_PROVIDER_KEY } from "../support/fakeOpenAI.ts"
import { type RunningGateway, startTestGateway, upstreamEnv } from "../support/gateway.ts"
import { installed } from "../support/installed.ts"
import { projectRoot } from "../support/processes.ts"

// The dashboard in a real browser (Debian's chromium, headless): signing in, figures that equal the admin API's, live
// updates without a reload, the cache browser deleting an entry, a refused key, and a narrow window. It writes its
// screenshots to .ci/artifacts/; with UPDATE_SCREENSHOT=1, the README's docs/dashboard.png too.

const CHROMIUM = "/usr/bin/chromium"
const ADMIN_KEY = "admin-key-0123456789abcdef"
// Priced so that spent and saved are not zero: USD per million input / output tokens.
const PRICES = "gpt-4o-mini=1000/4000"
const ARTIFACTS = join(projectRoot, ".ci/artifacts")

const QUESTION = "What is the boiling point of water?"
const PARAPHRASE = "What's the boiling point of water?"

let upstream: FakeOpenAI
let gateway: RunningGateway
let browser: Browser
let page: Page
const pageErrors: Array<string> = []

const ask = async (prompt: string, caller = "team-web-credential") => {
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${caller}` },
    body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: prompt }] })
  })
  await response.arrayBuffer()
  return response.headers.get("x-isartor-layer")
}

const adminGet = async <A>(path: string): Promise<A> => {
  const response = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  assert.equal(response.status, 200, `${path}: ${response.status}`)
  return (await response.json()) as A
}

/** The figure the page shows under `data-figure="name"`: its number and its text. */
const figureOf = (name: string) =>
  page.$eval(`[data-figure="${name}"]`, (element) => {
    const value = element.getAttribute("data-value")
    return { value: value === null ? null : Number(value), text: element.textContent ?? "" }
  })

/** The page's headline figures against the overview the admin API answers now. */
const figuresMatch = async () => {
  const overview = await adminGet<Overview>("/admin/overview")
  const expected: Record<string, [number | null, string]> = {
    "deflection-now": [overview.deflection.now.rate, percent(overview.deflection.now.rate)],
    "deflection-24h": [overview.deflection["24h"]!.rate, percent(overview.deflection["24h"]!.rate)],
    "spent-24h": [overview.totals["24h"].cost_usd, usd(overview.totals["24h"].cost_usd)],
    "saved-24h": [overview.totals["24h"].cost_saved_usd, usd(overview.totals["24h"].cost_saved_usd)],
    "spent-today": [overview.today!.cost_usd, usd(overview.today!.cost_usd)],
    "saved-today": [overview.today!.cost_saved_usd, usd(overview.today!.cost_saved_usd)],
    "requests-24h": [overview.totals["24h"].requests, String(overview.totals["24h"].requests)]
  }
  for (const [name, [value, text]] of Object.entries(expected)) {
    const shown = await figureOf(name)
    assert.deepEqual(shown, { value, text }, name)
  }
  // The chart of deflection by day covers the window chosen (7 days): every request of the week is in it.
  const charted = await page.$eval("#deflection-chart", (element) => Number(element.getAttribute("data-requests")))
  assert.equal(charted, overview.totals["7d"]!.requests, "requests in the deflection chart")
  return overview
}

const signIn = async (key: string) => {
  await page.locator("#admin-key").fill(key)
  await page.locator("#sign-in-form button[type=submit]").click()
}

describe("the dashboard, in a browser", () => {
  let ready = false
  before(async () => {
    if (!existsSync(CHROMIUM)) return
    const [model, hnswlib] = await Promise.all([loadUseLite(), loadHnswlib()])
    const backends: SemanticBackends = { loadEmbedder: async () => model, loadHnswlib: async () => hnswlib }
    upstream = await startFakeOpenAI()
    gateway = await startTestGateway(
      upstreamEnv(upstream.url, { ISARTOR__ADMIN_API_KEY: ADMIN_KEY, ISARTOR__MODEL_PRICES: PRICES }),
      {},
      backends
    )
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      // CI runs as root, where chromium's sandbox cannot start.
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    })
    page = await browser.newPage()
    await page.setViewport({ width: 1280, height: 900 })
    page.on("pageerror", (error) => pageErrors.push(String(error)))
    page.on("console", (message) => {
      if (message.type() === "error") pageErrors.push(message.text())
    })
    ready = true
  })
  after(async () => {
    await browser?.close()
    await gateway?.close()
    await upstream?.close()
  })

  it("refuses a wrong admin key, and keeps nothing of it", async (t) => {
    if (!installed(t, existsSync(CHROMIUM), "chromium", "apt-get install chromium")) return
    assert.ok(ready)
    await page.goto(`${gateway.url}/dashboard`)
    await signIn("not-the-admin-key")
    await page.waitForFunction(() => document.getElementById("sign-in-error")?.textContent !== "")
    assert.equal(await page.$eval("#sign-in-error", (element) => element.textContent), "That admin key was refused.")
    assert.equal(await page.$eval("#admin-key", (element) => element.getAttribute("aria-invalid")), "true")
    assert.equal(await page.$eval("#dashboard", (element) => (element as HTMLElement).hidden), true)
    assert.equal(await page.evaluate(() => sessionStorage.length), 0)
    // The browser reports the refused sign-in's 401 in its console: expected here, and nowhere else.
    assert.ok(pageErrors.every((line) => /status of 401/.test(line)), pageErrors.join("\n"))
    pageErrors.length = 0
  })

  it("signs in, and shows the deflection and spent and saved figures the admin API answers", async (t) => {
    if (!installed(t, existsSync(CHROMIUM), "chromium", "apt-get install chromium")) return
    assert.equal(await ask(QUESTION), "l3")
    assert.equal(await ask(QUESTION), "l1a")
    // The cache is each caller's own: the paraphrase is the same caller's.
    assert.equal(await ask(PARAPHRASE), "l1b")
    assert.equal(await ask("Name the tallest mountain in Bavaria", "team-data-credential"), "l3")
    await signIn(ADMIN_KEY)
    await page.waitForSelector("#dashboard:not([hidden])")
    const overview = await eventually(figuresMatch, { what: "the page's figures to equal /admin/overview's" })
    // The mix above: two of four answered from the cache, and a saving that is not zero.
    assert.equal(overview.deflection.now.rate, 0.5)
    assert.ok(overview.totals["24h"].cost_saved_usd > 0)
    // The provider panel: the breaker and keys /admin/providers shows, the key masked.
    const { data: [openai] } = await adminGet<{ data: Array<ProviderStatus> }>("/admin/providers")
    const panel = await page.$eval("#providers tbody tr", (row) => ({
      breaker: row.querySelector("[data-breaker]")?.getAttribute("data-breaker"),
      keys: [...row.querySelectorAll("[data-key-state]")].map((key) => key.textContent),
      text: row.textContent ?? ""
    }))
    assert.equal(panel.breaker, openai!.breaker.state)
    assert.deepEqual(panel.keys, openai!.keys.map((key) => `${key.key} ${key.label} · ${key.state}`))
    assert.ok(!panel.text.includes(TEST_PROVIDER_KEY.slice(3, -4)), "no key in the provider panel")
    // A window of a day is drawn hour by hour, a week day by day; each holds every request of its window.
    const chart = () =>
      page.$eval(
        "#deflection-chart",
        (element) => [element.getAttribute("data-bucket"), element.getAttribute("data-requests")]
      )
    await page.select("#window", "24h")
    await eventually(async () => {
      assert.deepEqual(await chart(), ["hour", String(overview.totals["24h"].requests)])
      return true
    }, { what: "the deflection chart to count hours for the last 24 h" })
    await page.select("#window", "7d")
    await eventually(async () => {
      assert.deepEqual(await chart(), ["day", String(overview.totals["7d"]!.requests)])
      return true
    }, { what: "the deflection chart to count days for the last 7 days" })
  })

  it("moves its numbers when a request is answered, without reloading", async (t) => {
    if (!installed(t, existsSync(CHROMIUM), "chromium", "apt-get install chromium")) return
    // Following /admin/events, not polling.
    await eventually(async () => (await page.$eval("#live", (element) => element.textContent)) === "Live", {
      what: "the page to follow the live events"
    })
    await page.evaluate(() => Object.assign(window, { stillTheSamePage: true }))
    const before = await figureOf("requests-24h")
    assert.equal(await ask("Spell Isartor backwards"), "l3")
    await eventually(async () => {
      assert.equal((await figureOf("requests-24h")).value, before.value! + 1)
      return figuresMatch()
    }, { what: "the page to count the new request and match /admin/overview again" })
    const newest = await page.$eval("#requests tbody tr td:nth-child(5)", (cell) => cell.textContent)
    assert.equal(newest, "L3")
    assert.equal(
      await page.evaluate(() => (window as unknown as { stillTheSamePage?: boolean }).stillTheSamePage),
      true
    )
  })

  it("deletes an entry from the cache browser, and the next paraphrase goes upstream", async (t) => {
    if (!installed(t, existsSync(CHROMIUM), "chromium", "apt-get install chromium")) return
    assert.equal(await ask(PARAPHRASE), "l1b")
    await page.locator("#cache-question").fill("boiling")
    await page.locator("#cache-search button[type=submit]").click()
    await page.waitForSelector("#cache-results [data-delete^=\"l1b_\"]")
    await page.locator("#cache-results [data-delete^=\"l1b_\"]").click()
    await page.waitForFunction(() => document.getElementById("cache-status")?.textContent?.startsWith("Deleted"))
    assert.equal(await page.$$eval("#cache-results [data-delete]", (buttons) => buttons.length), 0)
    const calls = upstream.calls.length
    assert.equal(await ask(PARAPHRASE), "l3")
    assert.equal(upstream.calls.length, calls + 1)
  })

  it("names every control, has no error in the page, reflows in a narrow window, and leaves screenshots", async (t) => {
    if (!installed(t, existsSync(CHROMIUM), "chromium", "apt-get install chromium")) return
    await eventually(figuresMatch, { what: "the page to settle on /admin/overview's figures" })
    // What a screen reader announces: every field has a label, every button a name, every column a header.
    const unnamed = await page.$$eval(
      "input, select, button",
      (controls) =>
        controls.filter((control) => (control instanceof HTMLButtonElement
          ? (control.getAttribute("aria-label") ?? control.textContent ?? "").trim() === ""
          : (control as HTMLInputElement).labels?.length === 0)
        ).map((control) => control.outerHTML)
    )
    assert.deepEqual(unnamed, [])
    assert.equal(await page.$$eval("thead th:not([scope=col])", (headers) => headers.length), 0)
    await mkdir(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-full.png"), fullPage: true })
    // The README's picture: the top of the page, where the figures and charts are.
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), clip: { x: 0, y: 0, width: 1280, height: 1000 } })
    if (process.env.UPDATE_SCREENSHOT === "1") {
      await copyFile(join(ARTIFACTS, "dashboard.png"), join(projectRoot, "docs/dashboard.png"))
    }
    await page.setViewport({ width: 400, height: 800 })
    // Nothing wider than the window: wide tables scroll inside their own box, not the page.
    await eventually(
      () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      { what: "the page to fit a 400 px window" }
    )
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-narrow.png"), fullPage: true })
    assert.deepEqual(pageErrors, [])
  })
})
