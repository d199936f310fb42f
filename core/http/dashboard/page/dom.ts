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

/** A table with a caption, column headers and rows; `numeric` columns align right. */
export const table = (
  caption: string,
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<Child>>,
  numeric: ReadonlyArray<number> = []
): HTMLElement =>
  h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h(
        "thead",
        {},
        h("tr", {}, headers.map((text, i) => h("th", { scope: "col", class: numeric.includes(i) && "num" }, text)))
      ),
      h(
        "tbody",
        {},
        rows.length === 0
          ? h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, "Nothing yet."))
          : rows.map((row) => h("tr", {}, row.map((cell, i) => h("td", { class: numeric.includes(i) && "num" }, cell))))
      )
    )
  )

/** A figure: its value kept as `data-value` beside the text, so a test compares numbers, not formatting alone. */
export const figure = (name: string, label: string, value: number, text: string, detail?: string) =>
  h(
    "div",
    { class: "figure" },
    h("dt", {}, label),
    h("dd", { "data-figure": name, "data-value": value }, text),
    detail === undefined ? null : h("dd", { class: "detail" }, detail)
  )
