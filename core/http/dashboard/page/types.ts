/**
 * What the page reads from the admin API (docs/admin-api.md): the types its routes answer with, imported as types
 * only (nothing of the server is bundled), so a change to an answer's shape fails the type check here.
 */
import type { EntryView } from "../../../cache/CacheEntry.ts"
import type { UsageLayer, UsageReport, UsageRow, UsageTotals } from "../../../usage/UsageRow.ts"

export type { EntryView, UsageLayer, UsageReport, UsageRow, UsageTotals }

/** `GET /admin/overview`, as the admin API builds it. */
export type { Deflection, Overview } from "../../adminOverview.ts"
