/** Exit codes scripts can rely on. */
export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

/** A failure the user can act on: printed as one `isartor: …` message, exit 1 (or 2 for a usage error). */
export class CliFailure extends Error {
  override readonly name = "CliFailure"
  constructor(message: string, readonly exitCode: number = EXIT_FAILURE) {
    super(message)
  }
}

export const usageError = (message: string) => new CliFailure(message, EXIT_USAGE)

/** Colour only on a terminal, and never when NO_COLOR is set. */
const colour = (stream: NodeJS.WriteStream) => stream.isTTY === true && !process.env.NO_COLOR
const paint = (code: number) => (text: string, stream: NodeJS.WriteStream = process.stdout) =>
  colour(stream) ? `\x1b[${code}m${text}\x1b[0m` : text

export const green = paint(32)
export const yellow = paint(33)
export const red = paint(31)
export const bold = paint(1)
export const dim = paint(2)

export const printJson = (value: unknown) => process.stdout.write(JSON.stringify(value, null, 2) + "\n")

/** A progress line that rewrites itself on a terminal and stays silent elsewhere (logs, pipes). */
export const progressLine = (stream: NodeJS.WriteStream = process.stderr) => {
  const tty = stream.isTTY === true
  let shown = false
  return {
    update: (text: string) => {
      if (!tty) return
      stream.write(`\r\x1b[2K${text}`)
      shown = true
    },
    done: () => {
      if (shown) stream.write("\r\x1b[2K")
      shown = false
    }
  }
}

/**
 * While `run` is pending, a progress line on a terminal (stderr), cleared before anything else is written to
 * stdout or stderr, so the gateway's own lines never land after it; nothing at all when stderr is not a terminal.
 */
export const withProgress = async <A>(text: (elapsedSecs: number) => string, run: () => Promise<A>): Promise<A> => {
  const err = process.stderr
  if (!err.isTTY) return run()
  const writeErr = err.write.bind(err)
  const writeOut = process.stdout.write.bind(process.stdout)
  let shown = false
  const clear = () => {
    if (shown) writeErr("\r\x1b[2K")
    shown = false
  }
  err.write = ((...args: Parameters<typeof writeErr>) => {
    clear()
    return writeErr(...args)
  }) as typeof err.write
  process.stdout.write = ((...args: Parameters<typeof writeOut>) => {
    clear()
    return writeOut(...args)
  }) as typeof process.stdout.write
  // Bun and Deno write console output natively, not through process.stdout: the console is wrapped too.
  const methods = ["log", "info", "warn", "error", "debug"] as const
  const originals = methods.map((method) => console[method])
  methods.forEach((method, i) => {
    console[method] = (...args: Array<unknown>) => {
      clear()
      originals[i]!(...args)
    }
  })
  const started = Date.now()
  const ticker = setInterval(() => {
    writeErr(`\r\x1b[2K${text((Date.now() - started) / 1000)}`)
    shown = true
  }, 250)
  try {
    return await run()
  } finally {
    clearInterval(ticker)
    clear()
    err.write = writeErr
    process.stdout.write = writeOut
    methods.forEach((method, i) => (console[method] = originals[i]!))
  }
}

/** `http://0.0.0.0:8080` is where it listens; clients on this machine reach it at 127.0.0.1. */
export const clientUrl = (hostname: string, port: number) => {
  const host = hostname === "0.0.0.0" || hostname === ""
    ? "127.0.0.1"
    : hostname === "::"
    ? "[::1]"
    : hostname.includes(":")
    ? `[${hostname}]`
    : hostname
  return `http://${host}:${port}`
}

export const formatDuration = (secs: number) => {
  const s = Math.floor(secs)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
}
