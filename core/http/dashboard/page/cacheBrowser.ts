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

export const cacheBrowser = (api: () => Api, failed: (error: unknown) => void, changed: () => void): CacheBrowser => {
  const status = byId("cache-status")
  const results = byId("cache-results")
  const detail = byId("cache-entry")
  const question = byId<HTMLInputElement>("cache-question")
  const model = byId<HTMLInputElement>("cache-model")
  const purgeModel = byId<HTMLInputElement>("purge-model")
  const purgeConfirm = byId("purge-confirm")

  const say = (text: string) => {
    status.textContent = text
  }

  const inspect = async (id: string) => {
    try {
      const entry = await api().get<EntryView>(`/admin/cache/${encodeURIComponent(id)}`)
      const rows: ReadonlyArray<[string, string]> = [
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
      detail.replaceChildren(
        h("h3", {}, "Entry"),
        h("dl", { class: "entry" }, rows.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))))
      )
      detail.focus()
    } catch (error) {
      failed(error)
      say(`Could not read ${id}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  const remove = async (entry: EntryView) => {
    try {
      const answer = await api().send<{ deleted: number }>("DELETE", `/admin/cache/${encodeURIComponent(entry.id)}`)
      detail.replaceChildren()
      await search()
      say(`Deleted ${entry.id}${answer.deleted > 1 ? " and its linked entry" : ""}.`)
      changed()
    } catch (error) {
      failed(error)
      say(`Could not delete ${entry.id}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  const search = async () => {
    const query = new URLSearchParams()
    if (question.value.trim() !== "") query.set("question_contains", question.value.trim())
    if (model.value.trim() !== "") query.set("model", model.value.trim())
    try {
      const list = await api().get<{ data: ReadonlyArray<EntryView> }>(`/admin/cache?${query}`)
      const entries = list.data
      say(
        entries.length === 0
          ? "No entries match."
          : entries.length > SHOWN
          ? `${count(entries.length)} entries match; the first ${SHOWN} are listed.`
          : `${count(entries.length)} ${entries.length === 1 ? "entry matches" : "entries match"}.`
      )
      results.replaceChildren(table(
        "Cache entries",
        ["Layer", "Caller", "Model", "Question", "Created", "Hits", "Actions"],
        entries.slice(0, SHOWN).map((entry) => [
          entry.layer.toUpperCase(),
          callerName(entry.tenant.split("|")[0] ?? entry.tenant),
          entry.model,
          entry.question,
          dateTime(entry.created),
          count(entry.hits),
          h(
            "span",
            { class: "actions" },
            h("button", {
              type: "button",
              "aria-label": `Inspect entry ${entry.id}`,
              "data-entry": entry.id,
              onclick: () => void inspect(entry.id)
            }, "Inspect"),
            h("button", {
              type: "button",
              class: "danger",
              "aria-label": `Delete entry ${entry.id}`,
              "data-delete": entry.id,
              onclick: () => void remove(entry)
            }, "Delete")
          )
        ]),
        { numeric: [5], wrap: [3] }
      ))
    } catch (error) {
      failed(error)
      say(`Could not search the cache: ${error instanceof Error ? error.message : String(error)}`)
    }
  }

  const purge = async (name: string, dryRun: boolean) => {
    try {
      const answer = await api().send<{ matched: number; removed: number }>("POST", "/admin/cache/purge", {
        model: name,
        dry_run: dryRun
      })
      if (!dryRun) {
        purgeConfirm.replaceChildren(h("p", { role: "status" }, `Removed ${count(answer.removed)} entries of ${name}.`))
        await search()
        changed()
        return
      }
      if (answer.matched === 0) {
        purgeConfirm.replaceChildren(h("p", { role: "status" }, `No entries of ${name}.`))
        return
      }
      const confirm = h(
        "button",
        { type: "button", class: "danger", onclick: () => void purge(name, false) },
        `Purge ${count(answer.matched)} entries of ${name}`
      )
      purgeConfirm.replaceChildren(
        h("p", { role: "status" }, `${count(answer.matched)} entries of ${name} would be removed.`),
        confirm,
        h("button", { type: "button", onclick: () => purgeConfirm.replaceChildren() }, "Cancel")
      )
      confirm.focus()
    } catch (error) {
      failed(error)
      purgeConfirm.replaceChildren(
        h("p", { role: "alert" }, `Could not purge: ${error instanceof Error ? error.message : String(error)}`)
      )
    }
  }

  byId<HTMLFormElement>("cache-search").addEventListener("submit", (event) => {
    event.preventDefault()
    void search()
  })
  byId<HTMLFormElement>("cache-purge").addEventListener("submit", (event) => {
    event.preventDefault()
    if (purgeModel.value.trim() !== "") void purge(purgeModel.value.trim(), true)
  })
  return { refresh: search }
}
