/**
 * Building the page's elements. Text always goes in as text (`textContent`), never as markup: cache entries hold
 * whatever callers asked, and a question must not become part of the page.
 */

type Child = Node | string | number | null | undefined | false
type Attributes = Readonly<Record<string, string | number | boolean | undefined | EventListener>>

/** An element with attributes (`on…` ones become listeners; `false`/`undefined` leave it out) and children. */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: ReadonlyArray<Child | ReadonlyArray<Child>>
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === "function") element.addEventListener(name.slice(2), value)
    else if (value === true) element.setAttribute(name, "")
    else if (value !== false && value !== undefined) element.setAttribute(name, String(value))
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    element.append(typeof child === "object" ? child : String(child))
  }
  return element
}

/** The element with this id, which the page's HTML must have. */
export const byId = <E extends HTMLElement = HTMLElement>(id: string): E => {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`the page has no #${id}`)
  return element as E
}

export interface Columns {
  /** Right-aligned, tabular digits. */
  readonly numeric?: ReadonlyArray<number>
  /** Free text that may wrap (a question, an error); other cells stay on one line and the table scrolls. */
  readonly wrap?: ReadonlyArray<number>
}

/** A table with a caption (for screen readers), column headers and rows, in a box that scrolls sideways. */
export const table = (
  caption: string,
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<Child>>,
  columns: Columns = {}
): HTMLElement => {
  const classOf = (i: number) =>
    [columns.numeric?.includes(i) && "num", columns.wrap?.includes(i) && "wrap"].filter(Boolean).join(" ") ||
    undefined
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((text, i) => h("th", { scope: "col", class: classOf(i) }, text)))),
      h(
        "tbody",
        {},
        rows.length === 0
          ? h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, "Nothing yet."))
          : rows.map((row) => h("tr", {}, row.map((cell, i) => h("td", { class: classOf(i) }, cell))))
      )
    )
  )
}

/** A figure: its value kept as `data-value` beside the text (none when it has none), so a test compares numbers. */
export const figure = (name: string, label: string, value: number | null, text: string, detail?: string) =>
  h(
    "div",
    { class: "figure" },
    h("dt", {}, label),
    h("dd", { "data-figure": name, "data-value": value ?? undefined }, text),
    detail === undefined ? null : h("dd", { class: "detail" }, detail)
  )
