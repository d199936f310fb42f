import { Config, Redacted, Schema } from "effect"

/** One configuration key: how it is read, its default and meaning as the docs and errors say them. */
export interface Leaf<A> {
  readonly _tag: "Leaf"
  readonly make: (name: string) => Config.Config<A>
  readonly defaultText: string
  readonly meaning: string
  /** The form a value must have, as a start-up error states it. */
  readonly form: string
  /** Never echoed back in an error message. */
  readonly secret: boolean
  /** For a key unset by default (no value, `defaultText` says what then): a value `isartor init` shows instead. */
  readonly example?: string
}

/** The plain leaves configSpec is written with: a key read as text, number, flag, secret, list or choice. */
export const leaf = <A>(
  make: (name: string) => Config.Config<A>,
  defaultText: string,
  meaning: string,
  form: string,
  secret = false
): Leaf<A> => ({ _tag: "Leaf", make, defaultText, meaning, form, secret })

export const text = (fallback: string, meaning: string) =>
  leaf(
    (name) => Config.String(name).pipe(Config.withDefault(fallback)),
    fallback === "" ? "(empty)" : fallback,
    meaning,
    "text"
  )
export const int = (fallback: number, meaning: string) =>
  leaf((name) => Config.Int(name).pipe(Config.withDefault(fallback)), String(fallback), meaning, "a whole number")
export const flag = (fallback: boolean, meaning: string) =>
  leaf((name) => Config.Boolean(name).pipe(Config.withDefault(fallback)), String(fallback), meaning, "true or false")
export const secret = (meaning: string) =>
  leaf((name) => Config.Redacted(name).pipe(Config.withDefault(Redacted.make(""))), "(empty)", meaning, "text", true)
/** Comma-separated text, parsed once into its trimmed, non-empty items. */
const commaSeparated = (text: string): ReadonlyArray<string> =>
  text.split(",").map((item) => item.trim()).filter((item) => item !== "")
/** Text (`"a,b"`, as a variable must be) or, in a config file, an array (`["a", "b"]`) — not a silent default. */
export const list = (fallback: ReadonlyArray<string>, meaning: string) =>
  leaf(
    (name): Config.Config<ReadonlyArray<string>> =>
      Config.String(name).pipe(
        Config.map(commaSeparated),
        Config.orElse(() =>
          Config.Array(Schema.String, name).pipe(Config.map((items) => items.flatMap(commaSeparated)))
        ),
        Config.withDefault(fallback)
      ),
    fallback.length === 0 ? "(empty)" : fallback.join(","),
    meaning,
    "comma-separated text"
  )
export const fraction = (fallback: number, meaning: string) =>
  leaf(
    (name) => Config.Number(name).pipe(Config.withDefault(fallback)),
    String(fallback),
    meaning,
    "a number between 0 and 1"
  )
export const oneOf = <const L extends ReadonlyArray<string>>(literals: L, fallback: L[number], meaning: string) =>
  leaf(
    (name) => Config.Literals(literals, name).pipe(Config.withDefault(fallback)),
    fallback,
    meaning,
    `one of ${literals.join(", ")}`
  )

/** A tree of leaves, as configSpec is. */
export type LeafTree = { readonly [key: string]: Leaf<unknown> | LeafTree }

/** The values a tree of leaves reads into. */
export type Parsed<S> = { readonly [K in keyof S]: S[K] extends Leaf<infer A> ? A : Parsed<S[K]> }

/** Every leaf with its path, depth first: `[["layer2", "sidecar_url"], leaf]`. */
export const leavesOf = (spec: LeafTree): Array<readonly [ReadonlyArray<string>, Leaf<unknown>]> => {
  const out: Array<readonly [ReadonlyArray<string>, Leaf<unknown>]> = []
  const walk = (node: LeafTree, prefix: ReadonlyArray<string>) => {
    for (const [key, child] of Object.entries(node)) {
      if (child._tag === "Leaf") out.push([[...prefix, key], child as Leaf<unknown>])
      else walk(child as LeafTree, [...prefix, key])
    }
  }
  walk(spec, [])
  return out
}
