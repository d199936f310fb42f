/**
 * The dashboard's entry: signing in with the admin key (kept in this tab's sessionStorage), then every panel from the
 * admin API, kept current by its live events — a request redraws the panels it changes, never the page.
 */
import { type Api, ApiError, basePath, makeApi, Refused } from "./api.ts"
import { cacheBrowser } from "./cacheBrowser.ts"
import { makeChart } from "./charts.ts"
import { byId, h } from "./dom.ts"
import { clock, count, uptime, usd } from "./format.ts"
import { configTable, glance, latencyTable, providersTable, requestsTable, spendTable, topTable } from "./panels.ts"
import {
  bucketFor,
  bucketName,
  chartTable,
  deflectionOverTime,
  describeStack,
  ratePerMinute,
  spendOverTime
} from "./series.ts"
import type { Overview, UsageReport, UsageRow } from "./types.ts"

const KEY_STORAGE = "isartor.adminKey"
/** The rows kept for the request-rate chart: as many as `/admin/requests` gives. */
const ROWS_KEPT = 1000
/** Without live events, how often the page asks again. */
const POLL_MS = 10_000

const base = basePath(location.pathname)

interface Session {
  readonly api: Api
  readonly stop: AbortController
  overview: Overview
  rows: Array<UsageRow>
  live: boolean
}
let session: Session | undefined

const charts = {
  deflection: makeChart(byId("deflection-chart"), "stacked", count),
  spend: makeChart(byId("spend-chart"), "lines", usd),
  rate: makeChart(byId("rate-chart"), "stacked", count)
}

const setLive = (text: string) => {
  const live = byId("live")
  if (live.textContent !== text) live.textContent = text
}

const showOverview = (overview: Overview) => {
  byId("about").textContent = `${overview.version}${overview.runtime ? ` on ${overview.runtime}` : ""} · up ${
    uptime(overview.uptime_secs)
  }`
  byId("glance").replaceChildren(...glance(overview))
  byId("spend-table").replaceChildren(spendTable(overview))
  byId("latency").replaceChildren(latencyTable(overview))
  byId("providers").replaceChildren(providersTable(overview))
  const l2 = overview.l2 as { readonly status: string; readonly reason?: string }
  byId("l2").textContent = `L2 local model: ${l2.status}${l2.reason ? ` (${l2.reason})` : ""}`
  showConfig(overview)
  const warnings = overview.warnings ?? []
  byId("warnings").replaceChildren(
    ...(warnings.length === 0
      ? []
      : [h("h2", {}, "Warnings"), h("ul", {}, warnings.map((warning) => h("li", {}, warning)))])
  )
}

const showConfig = (overview: Overview) =>
  byId("config").replaceChildren(
    configTable(overview, byId<HTMLInputElement>("config-filter").value, byId<HTMLInputElement>("config-all").checked)
  )

const showRows = (rows: ReadonlyArray<UsageRow>) => {
  byId("requests").replaceChildren(requestsTable(rows))
  const rate = ratePerMinute(rows, Date.now())
  charts.rate.update(rate, describeStack("Requests in the last hour by layer", rate))
  byId("rate-table").replaceChildren(chartTable("Requests per minute", rate, (at) => clock(at * 1000), count))
}

const showUsage = (overTime: UsageReport, callers: UsageReport, models: UsageReport) => {
  const per = overTime.by === "hour" ? "hour" : "day"
  const bucket = (at: number) => bucketName(overTime.by, at)
  const deflection = deflectionOverTime(overTime)
  byId("deflection-chart").dataset.requests = String(overTime.total.requests)
  byId("deflection-chart").dataset.bucket = per
  byId("deflection-help").textContent = `Requests per ${per} (UTC), stacked by the layer that answered them.`
  charts.deflection.update(deflection, describeStack(`Requests per ${per} by layer`, deflection))
  byId("deflection-table").replaceChildren(chartTable(`Requests per ${per} by layer`, deflection, bucket, count))
  const spend = spendOverTime(overTime)
  charts.spend.update(
    spend,
    `Estimated cost per ${per}: spent ${usd(overTime.total.cost_usd)}, saved ${usd(overTime.total.cost_saved_usd)}`
  )
  byId("spend-day-summary").textContent = `Per ${per}, as a table`
  byId("spend-day-table").replaceChildren(chartTable(`Estimated cost per ${per}`, spend, bucket, usd))
  byId("callers").replaceChildren(topTable("Callers with the most requests", "Caller", callers))
  byId("models").replaceChildren(topTable("Models with the most requests", "Model", models))
  byId("unpriced").textContent = overTime.unpriced_models.length === 0
    ? ""
    : `No price known for ${overTime.unpriced_models.join(", ")}: counted as $0.`
}

/** A failed call: a refused key signs out; anything else is said in the status line and the page keeps going. */
const failed = (error: unknown) => {
  if (error instanceof Refused) signOut("The admin key was refused; sign in again.")
  else setLive(`Could not refresh: ${error instanceof Error ? error.message : String(error)}`)
}

const refreshOverview = async () => {
  const current = session
  if (current === undefined) return
  try {
    current.overview = await current.api.get<Overview>("/admin/overview")
    if (session === current) showOverview(current.overview)
  } catch (error) {
    failed(error)
  }
}

const refreshRows = async () => {
  const current = session
  if (current === undefined) return
  try {
    const list = await current.api.get<{ data: Array<UsageRow> }>(`/admin/requests?limit=${ROWS_KEPT}`)
    current.rows = list.data
    if (session === current) showRows(current.rows)
  } catch (error) {
    failed(error)
  }
}

const refreshUsage = async () => {
  const current = session
  if (current === undefined) return
  const since = byId<HTMLSelectElement>("window").value
  try {
    const [overTime, callers, models] = await Promise.all(
      [bucketFor(since), "caller", "model"].map((by) =>
        current.api.get<UsageReport>(`/admin/usage?by=${by}&since=${encodeURIComponent(since)}`)
      )
    )
    if (session === current) showUsage(overTime!, callers!, models!)
  } catch (error) {
    failed(error)
  }
}

/** Runs `task` at most once per `ms`, the last call winning: a burst of requests is one refresh. */
const debounce = (task: () => Promise<void>, ms: number) => {
  let timer: ReturnType<typeof setTimeout> | undefined
  return () => {
    if (timer !== undefined) return
    timer = setTimeout(() => {
      timer = undefined
      void task()
    }, ms)
  }
}
const soonOverview = debounce(refreshOverview, 250)
const soonUsage = debounce(refreshUsage, 1000)

const onEvent = (current: Session) => (event: { event: string; data: string }) => {
  if (session !== current) return
  if (event.event === "request") {
    current.rows = [JSON.parse(event.data) as UsageRow, ...current.rows].slice(0, ROWS_KEPT)
    showRows(current.rows)
    soonOverview()
    soonUsage()
  } else if (event.event === "overview") {
    current.overview = JSON.parse(event.data) as Overview
    showOverview(current.overview)
  }
}

const start = (api: Api, overview: Overview) => {
  const current: Session = { api, stop: new AbortController(), overview, rows: [], live: false }
  session = current
  showOverview(overview)
  void refreshRows()
  void refreshUsage()
  void cache.refresh()
  void api.events({
    event: onEvent(current),
    connected: () => {
      current.live = true
      setLive("Live")
      // What happened while the stream was down.
      void refreshOverview()
      void refreshRows()
    },
    disconnected: (reason) => {
      current.live = false
      setLive(`Live updates paused (${reason}); refreshing every ${POLL_MS / 1000} s`)
    },
    refused: () => signOut("The admin key was refused; sign in again.")
  }, current.stop.signal)
  const poll = setInterval(() => {
    if (session !== current) return clearInterval(poll)
    if (current.live) return
    void refreshOverview()
    void refreshRows()
  }, POLL_MS)
}

const signInForm = byId<HTMLFormElement>("sign-in-form")
const keyInput = byId<HTMLInputElement>("admin-key")
const signInError = byId("sign-in-error")

const showSignIn = (message: string) => {
  byId("dashboard").hidden = true
  byId("sign-out").hidden = true
  byId("sign-in").hidden = false
  signInError.textContent = message
  keyInput.setAttribute("aria-invalid", message === "" ? "false" : "true")
  keyInput.focus()
}

function signOut(message = "") {
  session?.stop.abort()
  session = undefined
  sessionStorage.removeItem(KEY_STORAGE)
  byId("about").textContent = ""
  setLive("")
  showSignIn(message)
}

const signIn = async (key: string, typed: boolean) => {
  const api = makeApi(base, key)
  signInError.textContent = ""
  try {
    const overview = await api.get<Overview>("/admin/overview")
    sessionStorage.setItem(KEY_STORAGE, key)
    keyInput.value = ""
    keyInput.setAttribute("aria-invalid", "false")
    byId("sign-in").hidden = true
    byId("dashboard").hidden = false
    byId("sign-out").hidden = false
    byId("main").focus()
    start(api, overview)
  } catch (error) {
    if (error instanceof Refused) {
      sessionStorage.removeItem(KEY_STORAGE)
      showSignIn(typed ? "That admin key was refused." : "The saved admin key was refused; sign in again.")
    } else {
      showSignIn(
        `The gateway did not answer${error instanceof ApiError ? ` (${error.status})` : ""}: ${
          error instanceof Error ? error.message : String(error)
        }`
      )
    }
  }
}

const cache = cacheBrowser(
  () => {
    if (session === undefined) throw new Refused("signed out")
    return session.api
  },
  failed,
  soonOverview
)

signInForm.addEventListener("submit", (event) => {
  event.preventDefault()
  const key = keyInput.value.trim()
  if (key !== "") void signIn(key, true)
})
byId("sign-out").addEventListener("click", () => signOut())
byId("window").addEventListener("change", () => void refreshUsage())
for (const id of ["config-filter", "config-all"]) {
  byId(id).addEventListener("input", () => session !== undefined && showConfig(session.overview))
}

const saved = sessionStorage.getItem(KEY_STORAGE)
if (saved !== null) void signIn(saved, false)
else showSignIn("")
