import { startGateway } from "../core/Gateway.ts"
import { ownProcessErrors } from "./processErrors.ts"
import {
  exitOnListenError,
  exitOnStartError,
  gatewayServices,
  listening,
  readTextFile,
  stopGracefully
} from "./shared.ts"

ownProcessErrors()
const gateway = await startGateway({ env: process.env, readTextFile }, {
  ...gatewayServices(process.env),
  runtime: `bun ${Bun.version}`,
  // Bun's Response copies a Headers faster than it reads an object (core/http/render.ts).
  shareResponseHeaders: true,
  // JavaScriptCore has no cost cliff for large strings: a large body parses faster whole than in pieces.
  parseInPieces: false,
  // Bun inflates a compressed answer even when asked for identity, and a whole buffered read at once: the
  // transport refuses compressed answers unread, so Bun must not inflate them first.
  upstreamFetch: (url, init) => fetch(url, { ...init, decompress: false } as RequestInit)
}).catch(exitOnStartError)
let server: ReturnType<typeof Bun.serve>
try {
  server = Bun.serve({ fetch: gateway.fetch, hostname: gateway.hostname, port: gateway.port, idleTimeout: 0 })
} catch (error) {
  server = await exitOnListenError(error, gateway)
}
// metrics_port: /metrics alone on its own port.
if (gateway.metrics) Bun.serve({ fetch: gateway.metrics.fetch, hostname: gateway.hostname, port: gateway.metrics.port })
listening(server.hostname ?? gateway.hostname, server.port ?? gateway.port, `bun ${Bun.version}`)

// server.stop() stops accepting and resolves once the requests in flight have finished.
const shutdown = (signal: NodeJS.Signals) =>
  void stopGracefully(gateway, signal, () => server.stop()).then(() => process.exit(0))
process.once("SIGINT", shutdown)
process.once("SIGTERM", shutdown)
