import type { UsageNote, UsageRows } from "./recorder.ts"
import type { UsageFamily, UsageLayer, UsageRow } from "./UsageRow.ts"
import { RECENT_ROWS } from "./UsageStore.ts"

const isNote = (entry: UsageRow | UsageNote): entry is UsageNote => "tenant" in entry

/**
 * The last requests, a ring: `fresh` of them recorded since the last flush (at most its length). A note's facts of
 * how it went out sit beside it, in arrays of their own (nothing allocated per request); it becomes a row only when
 * taken.
 */
export class RecentRing {
  private readonly entries: Array<UsageRow | UsageNote | undefined> = new Array(RECENT_ROWS)
  private readonly sentAt = new Float64Array(RECENT_ROWS)
  private readonly sentLatency = new Float64Array(RECENT_ROWS)
  private readonly sentStatus = new Uint16Array(RECENT_ROWS)
  private readonly sentFamily: Array<UsageFamily> = new Array(RECENT_ROWS).fill("chat")
  private readonly sentLayer: Array<UsageLayer> = new Array(RECENT_ROWS).fill("l3")
  private readonly sentProvider: Array<string> = new Array(RECENT_ROWS).fill("")
  private next = 0
  private fresh = 0

  constructor(private readonly rows: UsageRows) {}

  keep(entry: UsageRow | UsageNote): void {
    this.entries[this.next] = entry
    this.next = this.next + 1 === RECENT_ROWS ? 0 : this.next + 1
    if (this.fresh < RECENT_ROWS) this.fresh++
  }

  keepNote(
    note: UsageNote,
    family: UsageFamily,
    layer: UsageLayer,
    provider: string,
    status: number,
    latencyMs: number,
    at: number
  ): void {
    const next = this.next
    this.sentAt[next] = at
    this.sentLatency[next] = latencyMs
    this.sentStatus[next] = status
    this.sentFamily[next] = family
    this.sentLayer[next] = layer
    this.sentProvider[next] = provider
    this.keep(note)
  }

  /** The rows recorded since the last flush, oldest first, made rows now. */
  takeFresh(): Array<UsageRow> {
    const taken: Array<UsageRow> = []
    for (let index = this.next - this.fresh; index < this.next; index++) {
      const at = (index + RECENT_ROWS) % RECENT_ROWS
      const entry = this.entries[at]!
      taken.push(
        isNote(entry)
          ? this.rows.row(
            entry,
            this.sentAt[at]!,
            this.sentFamily[at]!,
            this.sentLayer[at]!,
            this.sentProvider[at]!,
            this.sentStatus[at]!,
            this.sentLatency[at]!
          )
          : entry
      )
      this.entries[at] = undefined
    }
    this.fresh = 0
    return taken
  }
}
