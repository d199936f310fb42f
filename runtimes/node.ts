import { serve } from "@hono/node-server"
import { startGateway } from "../core/Gateway.ts"
import { nodeUpstreamFetch } from "./nodeFetch.ts"
import { ownProcessErrors } from "./processErrors.ts"
import { exitOnListenError, exitOnStartError, gatewayServices, listening, readTextFile } from "./shared.ts"

ownProcessErrors()
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

const shutdown = () => {
  // Stop accepting, let in-flight requests finish, then release the layers.
  server.close(() => void gateway.dispose().then(() => process.exit(0)))
  if ("closeIdleConnections" in server) server.closeIdleConnections()
}
process.once("SIGINT", shutdown)
process.once("SIGTERM", shutdown)
