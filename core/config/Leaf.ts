import type { Config } from "effect"

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
