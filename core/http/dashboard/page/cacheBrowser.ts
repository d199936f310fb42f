/**
 * The cache browser, over `/admin/cache`: find entries by question text or model, inspect one, delete one (with its
 * twin in the other layer), and purge a model's entries after seeing how many would go.
 */
import type { Api } from "./api.ts"
import { byId, h, table } from "./dom.ts"
import { callerName, count, dateTime } from "./format.ts"
import type { EntryView } from "./types.ts"

/** The most rows the browser lists; a search narrows the rest. */
const SHOWN = 100

export interface CacheBrowser {
  /** Runs the current search again (after a purge, or when the page signs in). */
  readonly refresh: () => Promise<void>
}

/** The browser's parts of the page, and what it tells the rest of it. */
interface Browser {
  readonly api: () => Api
  readonly failed: (error: unknown) => void
  /** The cache changed (a delete, a purge): the figures around it are out of date. */
  readonly changed: () => void
  readonly say: (text: string) => void
  readonly results: HTMLElement
  readonly detail: HTMLElement
  readonly question: HTMLInputElement
  readonly model: HTMLInputElement
  readonly purgeConfirm: HTMLElement
}

const messageOf = (error: unknown) => error instanceof Error ? error.message : String(error)

/** One entry as the detail pane lists it. */
const entryRows = (entry: EntryView): ReadonlyArray<[string, string]> => [
  ["Id", entry.id],
  ["Layer", entry.layer === "l1a" ? "L1a exact cache" : "L1b semantic cache"],
  ["Model", entry.model],
  ["Question", entry.question],
  ["Caller scope", entry.tenant],
  ["Created", dateTime(entry.created)],
  ["Expires", dateTime(entry.expires)],
  ["Hits on this replica", count(entry.hits)],
  ["Linked entry", entry.linked ?? "none"]
]

const inspect = async (browser: Browser, id: string) => {
  try {
    const entry = await browser.api().get<EntryView>(`/admin/cache/${encodeURIComponent(id)}`)
    browser.detail.replaceChildren(
      h("h3", {}, "Entry"),
      h(
        "dl",
        { class: "entry" },
        entryRows(entry).map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value)))
      )
    )
    browser.detail.focus()
  } catch (error) {
    browser.failed(error)
    browser.say(`Could not read ${id}: ${messageOf(error)}`)
  }
}

const remove = async (browser: Browser, entry: EntryView) => {
  try {
    const answer = await browser.api().send<{ deleted: number }>(
      "DELETE",
      `/admin/cache/${encodeURIComponent(entry.id)}`
    )
    browser.detail.replaceChildren()
    await search(browser)
    browser.say(`Deleted ${entry.id}${answer.deleted > 1 ? " and its linked entry" : ""}.`)
    browser.changed()
  } catch (error) {
    browser.failed(error)
    browser.say(`Could not delete ${entry.id}: ${messageOf(error)}`)
  }
}

/** An entry's buttons: inspect it, delete it. */
const actionsOf = (browser: Browser, entry: EntryView) =>
  h(
    "span",
    { class: "actions" },
    h("button", {
      type: "button",
      "aria-label": `Inspect entry ${entry.id}`,
      "data-entry": entry.id,
      onclick: () => void inspect(browser, entry.id)
    }, "Inspect"),
    h("button", {
      type: "button",
      class: "danger",
      "aria-label": `Delete entry ${entry.id}`,
      "data-delete": entry.id,
      onclick: () => void remove(browser, entry)
    }, "Delete")
  )

const matches = (found: number) =>
  found === 0
    ? "No entries match."
    : found > SHOWN
    ? `${count(found)} entries match; the first ${SHOWN} are listed.`
    : `${count(found)} ${found === 1 ? "entry matches" : "entries match"}.`

const search = async (browser: Browser) => {
  const query = new URLSearchParams()
  if (browser.question.value.trim() !== "") query.set("question_contains", browser.question.value.trim())
  if (browser.model.value.trim() !== "") query.set("model", browser.model.value.trim())
  try {
    const list = await browser.api().get<{ data: ReadonlyArray<EntryView> }>(`/admin/cache?${query}`)
    const entries = list.data
    browser.say(matches(entries.length))
    browser.results.replaceChildren(table(
      "Cache entries",
      ["Layer", "Caller", "Model", "Question", "Created", "Hits", "Actions"],
      entries.slice(0, SHOWN).map((entry) => [
        entry.layer.toUpperCase(),
        callerName(entry.tenant.split("|")[0] ?? entry.tenant),
        entry.model,
        entry.question,
        dateTime(entry.created),
        count(entry.hits),
        actionsOf(browser, entry)
      ]),
      { numeric: [5], wrap: [3] }
    ))
  } catch (error) {
    browser.failed(error)
    browser.say(`Could not search the cache: ${messageOf(error)}`)
  }
}

/** How many entries of a model a purge would remove, with the button that removes them. */
const confirmPurge = (browser: Browser, name: string, matched: number) => {
  const confirm = h(
    "button",
    { type: "button", class: "danger", onclick: () => void purge(browser, name, false) },
    `Purge ${count(matched)} entries of ${name}`
  )
  browser.purgeConfirm.replaceChildren(
    h("p", { role: "status" }, `${count(matched)} entries of ${name} would be removed.`),
    confirm,
    h("button", { type: "button", onclick: () => browser.purgeConfirm.replaceChildren() }, "Cancel")
  )
  confirm.focus()
}

const purge = async (browser: Browser, name: string, dryRun: boolean) => {
  const said = (text: string) => browser.purgeConfirm.replaceChildren(h("p", { role: "status" }, text))
  try {
    const answer = await browser.api().send<{ matched: number; removed: number }>("POST", "/admin/cache/purge", {
      model: name,
      dry_run: dryRun
    })
    if (!dryRun) {
      said(`Removed ${count(answer.removed)} entries of ${name}.`)
      await search(browser)
      browser.changed()
    } else if (answer.matched === 0) said(`No entries of ${name}.`)
    else confirmPurge(browser, name, answer.matched)
  } catch (error) {
    browser.failed(error)
    browser.purgeConfirm.replaceChildren(h("p", { role: "alert" }, `Could not purge: ${messageOf(error)}`))
  }
}

export const cacheBrowser = (api: () => Api, failed: (error: unknown) => void, changed: () => void): CacheBrowser => {
  const status = byId("cache-status")
  const browser: Browser = {
    api,
    failed,
    changed,
    say: (text) => {
      status.textContent = text
    },
    results: byId("cache-results"),
    detail: byId("cache-entry"),
    question: byId<HTMLInputElement>("cache-question"),
    model: byId<HTMLInputElement>("cache-model"),
    purgeConfirm: byId("purge-confirm")
  }
  const purgeModel = byId<HTMLInputElement>("purge-model")
  byId<HTMLFormElement>("cache-search").addEventListener("submit", (event) => {
    event.preventDefault()
    void search(browser)
  })
  byId<HTMLFormElement>("cache-purge").addEventListener("submit", (event) => {
    event.preventDefault()
    if (purgeModel.value.trim() !== "") void purge(browser, purgeModel.value.trim(), true)
  })
  return { refresh: () => search(browser) }
}
