import { Redacted } from "effect"
import type { PoolKeySpec } from "../../config/poolLeaves.ts"

export type KeyStrategy = "round_robin" | "priority"
export type KeyState = "ok" | "cooling" | "invalid"

/** What `/admin/providers` shows of a key: never the key, only its masked form. */
export interface KeyView {
  readonly key: string
  readonly label: string
  readonly state: KeyState
  readonly requests: number
  readonly rate_limited: number
  readonly failures: number
  /** ISO time the key is usable again; only while it cools down. */
  readonly cooling_until?: string
}

/** The next key to call with, or why there is none: every key cools (until the soonest is back) or was refused. */
export type Pick =
  | { readonly _tag: "Key"; readonly index: number }
  | { readonly _tag: "Cooling"; readonly retryAfterMs: number }
  | { readonly _tag: "Invalid" }

/** `sk-…abcd`: the key's kind and, when the key is long enough to spare them, its last four characters. */
export const maskKey = (key: string): string => {
  const kind = /^(?:[A-Za-z]{2,5}[-_](?:[a-z]{2,4}[-_])?|AIza)/.exec(key)?.[0] ?? ""
  return `${kind}…${key.length >= 20 ? key.slice(-4) : ""}`
}

interface Slot {
  readonly key: Redacted.Redacted<string>
  readonly label: string
  readonly priority: number
  coolingUntil: number
  invalid: boolean
  requests: number
  rateLimited: number
  failures: number
}

export interface KeyPool {
  readonly size: number
  readonly keys: ReadonlyArray<Redacted.Redacted<string>>
  /** The key to call with now, other than those this request already tried; counted as a request unless told. */
  readonly pick: (now: number, tried: ReadonlySet<number>, counted?: boolean) => Pick
  /** A 429 (or quota error): the key rests for the upstream's `Retry-After`, else the pool's cool-down. */
  readonly rateLimited: (index: number, now: number, retryAfterMs: number | undefined) => void
  /** A 401/403: the key is set aside until the gateway restarts with its configuration. */
  readonly refused: (index: number) => void
  readonly failed: (index: number) => void
  readonly view: (now: number) => ReadonlyArray<KeyView>
}

/** A key's slot, before it has answered anything. */
const newSlot = (spec: PoolKeySpec, position: number): Slot => ({
  key: spec.key,
  label: spec.label ?? `key-${position + 1}`,
  // Keys without a priority come after those with one, in list order (the sort below is stable).
  priority: spec.priority ?? Number.MAX_SAFE_INTEGER,
  coolingUntil: 0,
  invalid: false,
  requests: 0,
  rateLimited: 0,
  failures: 0
})

/** The order slots are tried in: by priority, or as listed (round robin starts from its turn in this list). */
const callOrder = (slots: ReadonlyArray<Slot>, strategy: KeyStrategy): ReadonlyArray<number> =>
  strategy === "priority"
    ? slots.map((_, index) => index).sort((a, b) => slots[a]!.priority - slots[b]!.priority)
    : slots.map((_, index) => index)

/** The pool's `pick`: the first usable key in call order; round robin remembers whose turn is next. */
const makePicker = (slots: ReadonlyArray<Slot>, strategy: KeyStrategy): KeyPool["pick"] => {
  const order = callOrder(slots, strategy)
  let turn = 0
  return (now, tried, counted = true) => {
    let soonest = Number.POSITIVE_INFINITY
    for (let step = 0; step < order.length; step++) {
      const index = order[strategy === "priority" ? step : (turn + step) % order.length]!
      const slot = slots[index]!
      if (slot.invalid) continue
      // A key this request already met cooling still says when the pool is usable again: every key cooling is
      // `Cooling` (no retry, the chain moves on at once), never `Invalid` with the last 429 to be retried later.
      if (slot.coolingUntil > now) {
        soonest = Math.min(soonest, slot.coolingUntil)
        continue
      }
      if (tried.has(index)) continue
      if (!counted) return { _tag: "Key", index }
      if (strategy === "round_robin") turn = (order.indexOf(index) + 1) % order.length
      slot.requests++
      return { _tag: "Key", index }
    }
    return soonest === Number.POSITIVE_INFINITY
      ? { _tag: "Invalid" }
      : { _tag: "Cooling", retryAfterMs: soonest - now }
  }
}

/** What `/admin/providers` shows of one slot at `now`. */
const slotView = (slot: Slot, now: number): KeyView => {
  const cooling = !slot.invalid && slot.coolingUntil > now
  return {
    key: maskKey(Redacted.value(slot.key)),
    label: slot.label,
    state: slot.invalid ? "invalid" : cooling ? "cooling" : "ok",
    requests: slot.requests,
    rate_limited: slot.rateLimited,
    failures: slot.failures,
    ...(cooling ? { cooling_until: new Date(slot.coolingUntil).toISOString() } : {})
  }
}

/**
 * A provider's keys and what each has answered lately. A pool of one key (the plain configuration) is never set
 * aside: with no other key to turn to, its 429s go to the retry policy, as without a pool.
 */
export const makeKeyPool = (
  specs: ReadonlyArray<PoolKeySpec>,
  strategy: KeyStrategy,
  cooldownMs: number
): KeyPool => {
  const slots: Array<Slot> = specs.map(newSlot)
  const pooled = slots.length > 1
  return {
    size: slots.length,
    keys: slots.map((slot) => slot.key),
    pick: makePicker(slots, strategy),
    rateLimited: (index, now, retryAfterMs) => {
      const slot = slots[index]!
      slot.rateLimited++
      if (pooled) slot.coolingUntil = now + (retryAfterMs ?? cooldownMs)
    },
    refused: (index) => {
      const slot = slots[index]!
      slot.failures++
      if (pooled) slot.invalid = true
    },
    failed: (index) => {
      slots[index]!.failures++
    },
    view: (now) => slots.map((slot) => slotView(slot, now))
  }
}
