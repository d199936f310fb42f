import { Formatter, Logger } from "effect"
import type { ConfigSources } from "../config/Config.ts"
import type { RequestRecord } from "../http/observability.ts"
import { logText } from "../observability/Telemetry.ts"

export interface GatewayLog {
  readonly info: (line: string) => void
  readonly warn: (line: string) => void
  /** Told the format the configuration chose, so the runtime's own lines (listening, errors) follow it too. */
  readonly useFormat?: (format: LogFormat) => void
}

export type LogFormat = "text" | "json"

export const SEVERITY = { Trace: 0, Debug: 0, Info: 1, Warn: 2, Error: 3, Fatal: 3, All: 0, None: 4 } as const
export const LEVELS = { debug: 0, info: 1, warn: 2, error: 3 } as const

/**
 * A log line as JSON (`time`, `level`, `msg`, then any fields): the one shape of every JSON line the gateway writes,
 * serialised by Effect's JSON formatter, which drops a circular field where `JSON.stringify` would throw and lose
 * the line.
 */
export const jsonLogLine = (level: string, msg: string, fields: object = {}, time = new Date()) =>
  Formatter.formatJson({ time: time.toISOString(), level, msg, ...fields })

/** The log level and format settings, read from the environment before the rest of the configuration. */
export const logSettings = (env: ConfigSources["env"]): { format: LogFormat; least: number } => ({
  format: env.ISARTOR__LOG_FORMAT === "json" ? "json" : "text",
  least: LEVELS[env.ISARTOR__LOG_LEVEL as keyof typeof LEVELS] ?? LEVELS.info
})

/**
 * Effect's log lines (a dropped cache write, an unreadable Redis value) go to the gateway's log, one line each:
 * text, or one JSON object a line (`time`, `level`, `msg`) for a log shipper.
 */
export const logTo = (log: GatewayLog, settings: ReturnType<typeof logSettings>) =>
  Logger.layer([
    Logger.make(({ date, logLevel, message }) => {
      if (SEVERITY[logLevel] < settings.least) return
      const text = logText(message)
      const warning = SEVERITY[logLevel] >= LEVELS.warn
      if (settings.format === "json") {
        const line = jsonLogLine(logLevel.toLowerCase(), text, {}, date)
        return warning ? log.warn(line) : log.info(line)
      }
      if (warning) log.warn(`isartor: warning: ${text}`)
      else log.info(`isartor: ${text}`)
    })
  ])

/** One line per request: always as JSON, as text only at `log_level = debug`. */
export const requestLog = (log: GatewayLog, settings: ReturnType<typeof logSettings>) => {
  if (settings.format === "json") {
    return settings.least <= LEVELS.info
      ? (record: RequestRecord) => log.info(jsonLogLine("info", "request", record))
      : undefined
  }
  return settings.least <= LEVELS.debug
    ? (record: RequestRecord) =>
      log.info(
        `isartor: ${record.method} ${record.route} ${record.status} ${
          record.final_layer ?? "-"
        } ${record.duration_ms} ms${record.provider ? ` ${record.provider}` : ""}${
          record.trace_id ? ` trace ${record.trace_id}` : ""
        }`
      )
    : undefined
}
