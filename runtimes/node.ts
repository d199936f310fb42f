import { serve } from "@hono/node-server"
import { setFlagsFromString } from "node:v8"
import { startGateway } from "../core/Gateway.ts"
import { nodeUpstreamFetch } from "./nodeFetch.ts"
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
// V8 compiles a WebAssembly function hot enough to spend its tiering budget again with TurboFan, on background threads
// whose freed compile memory glibc keeps, one arena per thread, for the life of the process. Opening the usage
// ledger's SQLite file is such a one-off burst (all of SQLite's parser and B-tree code at once). With a larger budget
// start-up's bursts stay on the baseline code; what is hot on the request path (hnswlib's search) still tiers up, after
// a few hundred calls. Set before the gateway compiles its WebAssembly modules: each module reads it when compiled.
setFlagsFromString("--wasm-tiering-budget=100000000")
const gateway = await startGateway({ env: process.env, readTextFile }, {
  ...gatewayServices(process.env, new URL("./embedding/worker-node.mjs", import.meta.url)),
  runtime: `node ${process.version}`,
  upstreamFetch: nodeUpstreamFetch
}).catch(exitOnStartError)
const server = serve(
  { fetch: gateway.fetch, hostname: gateway.hostname, port: gateway.port },
  (info) => listening(info.address, info.port, `node ${process.version}`)
)
server.once("error", (error) => void exitOnListenError(error, gateway))
// metrics_port: /metrics alone on its own port.
if (gateway.metrics) serve({ fetch: gateway.metrics.fetch, hostname: gateway.hostname, port: gateway.metrics.port })

/** Stops accepting; resolves once the requests in flight have finished and their connections are closed. */
const closeServer = () =>
  new Promise<void>((resolve) => {
    server.close(() => resolve())
    if (!("closeIdleConnections" in server)) return
    // A keep-alive connection whose request finishes after close() would otherwise stay open until it times out.
    server.closeIdleConnections()
    const idle = setInterval(() => server.closeIdleConnections(), 100)
    server.once("close", () => clearInterval(idle))
  })
const shutdown = (signal: NodeJS.Signals) =>
  void stopGracefully(gateway, signal, closeServer).then(() => process.exit(0))
process.once("SIGINT", shutdown)
process.once("SIGTERM", shutdown)
