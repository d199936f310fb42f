import type { AddToRollup } from "./recorder.ts"
import type { UsageLayer } from "./UsageRow.ts"
import { hourOf, type UsageRollup } from "./UsageStore.ts"

type Sums = { -readonly [K in keyof UsageRollup]: UsageRollup[K] }

const findSums = (sums: Array<Sums>, provider: string, model: string, layer: UsageLayer) => {
  for (const known of sums) {
    if (known.provider === provider && known.model === model && known.layer === layer) return known
  }
  return undefined
}

/**
 * Rollups summed between flushes, found again by hour, then caller, then a scan of that caller's few provider ×
 * model × layer sums: a request adds to its rollup without building a key.
 */
export class PendingRollups {
  private byHour = new Map<number, Map<string, Array<Sums>>>()
  private lastHour = Number.NaN
  private lastCallers: Map<string, Array<Sums>> | undefined = undefined
  size = 0

  readonly add: AddToRollup = (
    at,
    caller,
    provider,
    model,
    layer,
    failed,
    tokensIn,
    tokensOut,
    cost,
    saved,
    costSaved
  ) => {
    const known = this.sumsOf(at, caller, provider, model, layer)
    known.requests += 1
    if (failed) known.errors += 1
    known.tokens_in += tokensIn
    known.tokens_out += tokensOut
    known.cost_usd += cost
    known.tokens_saved += saved
    known.cost_saved_usd += costSaved
  }

  /** Adds rollups summed before (a batch the store did not take). */
  merge(rollups: ReadonlyArray<UsageRollup>): void {
    for (const rollup of rollups) {
      const known = this.sumsOf(rollup.hour, rollup.caller, rollup.provider, rollup.model, rollup.layer)
      known.requests += rollup.requests
      known.errors += rollup.errors
      known.tokens_in += rollup.tokens_in
      known.tokens_out += rollup.tokens_out
      known.cost_usd += rollup.cost_usd
      known.tokens_saved += rollup.tokens_saved
      known.cost_saved_usd += rollup.cost_saved_usd
    }
  }

  /** Every rollup summed, and a fresh start. */
  drain(): Array<UsageRollup> {
    const drained: Array<UsageRollup> = []
    for (const callers of this.byHour.values()) for (const sums of callers.values()) drained.push(...sums)
    this.byHour = new Map()
    this.lastHour = Number.NaN
    this.lastCallers = undefined
    this.size = 0
    return drained
  }

  /** The sums of an identity, made (all zero) the first time it is seen. */
  private sumsOf(at: number, caller: string, provider: string, model: string, layer: UsageLayer): Sums {
    const hour = hourOf(at)
    let callers = this.lastCallers
    if (hour !== this.lastHour || callers === undefined) {
      callers = this.byHour.get(hour)
      if (callers === undefined) this.byHour.set(hour, callers = new Map())
      this.lastHour = hour
      this.lastCallers = callers
    }
    let sums = callers.get(caller)
    if (sums === undefined) callers.set(caller, sums = [])
    const known = findSums(sums, provider, model, layer)
    if (known !== undefined) return known
    this.size++
    const made: Sums = {
      hour,
      caller,
      provider,
      model,
      layer,
      requests: 0,
      errors: 0,
      tokens_in: 0,
      tokens_out: 0,
      cost_usd: 0,
      tokens_saved: 0,
      cost_saved_usd: 0
    }
    sums.push(made)
    return made
  }
}
