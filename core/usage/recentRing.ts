import type { Measured } from "./recorder.ts"
import type { UsageFamily, UsageLayer, UsageRow } from "./UsageRow.ts"
import { RECENT_ROWS } from "./UsageStore.ts"

/** Where a request is kept that is no longer among the last (its estimate came after 1,000 newer requests). */
const SPARE = RECENT_ROWS
const SLOTS = RECENT_ROWS + 1
const STREAM = 1
const ESTIMATED = 2

/**
 * The same strings kept once: a column holds the one copy of a model or provider name, not one string per request
 * that would outlive the young generation with it. The last one is compared first (a run of one caller's requests).
 */
class Interned {
  private readonly known = new Map<string, string>()
  private last = ""
  get(text: string): string {
    if (text === this.last) return this.last
    let found = this.known.get(text)
    if (found === undefined) {
      // Names are few; a flood of distinct ones (client-chosen models) starts the table again rather than grow it.
      if (this.known.size >= 4096) this.known.clear()
      this.known.set(text, found = text)
    }
    return this.last = found
  }
}

/**
 * The last requests, a ring of columns — numbers in typed arrays, strings shared — so that recording a request keeps
 * no object of it: what a request allocates dies young, where 1,000 kept notes (and their strings) each outlived a
 * scavenge. `fresh` of them recorded since the last flush (at most its length); each becomes a row only when taken.
 */
export class RecentRing {
  private readonly at = new Float64Array(SLOTS)
  private readonly latency = new Float64Array(SLOTS)
  private readonly status = new Uint16Array(SLOTS)
  private readonly flags = new Uint8Array(SLOTS)
  private readonly numbers = new Float64Array(SLOTS * 6)
  /** Which reservation wrote each slot: a late estimate writes its slot only if it is still its own. */
  private readonly ticket = new Float64Array(SLOTS)
  private readonly caller: Array<string> = new Array(SLOTS).fill("")
  private readonly label: Array<string | undefined> = new Array(SLOTS).fill(undefined)
  private readonly family: Array<UsageFamily> = new Array(SLOTS).fill("chat")
  private readonly modelAsked: Array<string> = new Array(SLOTS).fill("")
  private readonly provider: Array<string> = new Array(SLOTS).fill("")
  private readonly model: Array<string> = new Array(SLOTS).fill("")
  private readonly layer: Array<UsageLayer> = new Array(SLOTS).fill("l3")
  private readonly question: Array<string | undefined> = new Array(SLOTS).fill(undefined)
  private readonly answer: Array<string | undefined> = new Array(SLOTS).fill(undefined)
  private readonly names = new Interned()
  private next = 0
  private fresh = 0
  private reserved = 0

  /** `mask`: takes the credentials out of a kept question and answer as they are made a row. */
  constructor(private readonly mask: (text: string) => string) {}

  /** The next slot, taken for a request now (its place among the last), written now or once estimated. */
  reserve(): number {
    const slot = this.next
    this.ticket[slot] = ++this.reserved
    this.next = slot + 1 === RECENT_ROWS ? 0 : slot + 1
    if (this.fresh < RECENT_ROWS) this.fresh++
    return slot
  }

  /** The slot's reservation, to write it later (`writable`). */
  ticketOf(slot: number): number {
    return this.ticket[slot]!
  }

  /** The slot, if still the reservation's; else the spare, outside the ring (its row only told, never taken). */
  writable(slot: number, ticket: number): number {
    return this.ticket[slot] === ticket ? slot : SPARE
  }

  /** A request's figures, and how its answer went out, into a slot. */
  write(
    slot: number,
    measured: Measured,
    family: UsageFamily,
    layer: UsageLayer,
    provider: string,
    status: number,
    latencyMs: number,
    at: number
  ): void {
    const { names } = this
    this.at[slot] = at
    this.latency[slot] = Math.round(latencyMs * 100) / 100
    this.status[slot] = status
    this.flags[slot] = (measured.stream ? STREAM : 0) | (measured.estimated ? ESTIMATED : 0)
    const base = slot * 6
    this.numbers[base] = measured.tokensIn
    this.numbers[base + 1] = measured.tokensOut
    this.numbers[base + 2] = measured.costUsd
    this.numbers[base + 3] = measured.tokensSaved
    this.numbers[base + 4] = measured.costSavedUsd
    this.numbers[base + 5] = measured.routingSavedUsd
    this.caller[slot] = names.get(measured.caller)
    this.label[slot] = measured.label
    this.family[slot] = family
    this.modelAsked[slot] = names.get(measured.modelAsked)
    this.provider[slot] = names.get(provider)
    this.model[slot] = names.get(measured.model)
    this.layer[slot] = layer
    if (this.question[slot] !== undefined || measured.question !== undefined) {
      this.question[slot] = measured.question
      this.answer[slot] = measured.answer
    }
  }

  /** A whole row (one recorded as such) into a slot. */
  writeRow(slot: number, row: UsageRow): void {
    const measured: Measured = {
      caller: row.caller,
      label: row.label,
      modelAsked: row.model_asked,
      model: row.model,
      tokensIn: row.tokens_in,
      tokensOut: row.tokens_out,
      costUsd: row.cost_usd,
      tokensSaved: row.tokens_saved,
      costSavedUsd: row.cost_saved_usd,
      estimated: row.tokens_estimated === true,
      routingSavedUsd: row.routing_saved_usd ?? Number.NaN,
      stream: row.stream,
      question: row.question,
      answer: row.answer
    }
    this.write(slot, measured, row.family, row.layer, row.provider, row.status, row.latency_ms, row.at)
  }

  /** The request in a slot, made a row (its fields in the order rows have always had). */
  rowAt(slot: number): UsageRow {
    const built = { at: this.at[slot]!, caller: this.caller[slot]! } as Built
    const label = this.label[slot]
    if (label !== undefined) built.label = label
    built.family = this.family[slot]!
    built.model_asked = this.modelAsked[slot]!
    built.provider = this.provider[slot]!
    built.model = this.model[slot]!
    built.layer = this.layer[slot]!
    const base = slot * 6
    built.tokens_in = this.numbers[base]!
    built.tokens_out = this.numbers[base + 1]!
    built.cost_usd = this.numbers[base + 2]!
    built.tokens_saved = this.numbers[base + 3]!
    built.cost_saved_usd = this.numbers[base + 4]!
    const flags = this.flags[slot]!
    if ((flags & ESTIMATED) !== 0) built.tokens_estimated = true
    const routing = this.numbers[base + 5]!
    if (!Number.isNaN(routing)) built.routing_saved_usd = routing
    built.latency_ms = this.latency[slot]!
    built.status = this.status[slot]!
    built.stream = (flags & STREAM) !== 0
    const question = this.question[slot]
    if (question !== undefined) {
      built.question = this.mask(question)
      built.answer = this.mask(this.answer[slot] ?? "")
    }
    return built
  }

  /** The rows recorded since the last flush, oldest first, made rows now. */
  takeFresh(): Array<UsageRow> {
    const taken: Array<UsageRow> = []
    for (let index = this.next - this.fresh; index < this.next; index++) {
      taken.push(this.rowAt((index + RECENT_ROWS) % RECENT_ROWS))
    }
    this.fresh = 0
    return taken
  }
}

/** A row's fields, one by one (no spread per optional field). */
type Built = { -readonly [K in keyof UsageRow]: UsageRow[K] }
