import { type GatewayLog, jsonLogLine, type LogFormat } from "../core/gateway/logging.ts"

/**
 * The runtime's own lines — listening, start-up and listen errors, the embedding worker's restarts — in the
 * gateway's log format: ISARTOR__LOG_FORMAT's until the configuration is read, then its `log_format`.
 */
let format: LogFormat = "text"

export const logFormatFromEnv = (env: Record<string, string | undefined>) => {
  format = env.ISARTOR__LOG_FORMAT === "json" ? "json" : "text"
}

/** One line: `text` as a JSON line's `msg`, or `plain` as it is (info on stdout, warnings and errors on stderr). */
export const writeLine = (level: "info" | "warn" | "error", text: string, plain = text) => {
  const line = format === "json" ? jsonLogLine(level, text) : plain
  if (level === "info") console.log(line)
  else console.error(line)
}

export const logInfo = (text: string) => writeLine("info", text, `isartor: ${text}`)
export const logWarning = (text: string) => writeLine("warn", text, `isartor: warning: ${text}`)
export const logError = (text: string) => writeLine("error", text, `isartor: ${text}`)

/** An error nothing expected: its stack, as it is in text, in `msg` as JSON. */
export const logUnexpected = (error: unknown) => {
  if (format === "json") writeLine("error", error instanceof Error ? error.stack ?? error.message : String(error))
  else console.error(error)
}

/** The gateway's own log, as the runtimes hand it over: the console, told the format the configuration chose. */
export const gatewayLog: GatewayLog = {
  info: (line) => console.info(line),
  warn: (line) => console.warn(line),
  useFormat: (chosen) => {
    format = chosen
  }
}
