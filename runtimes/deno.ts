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
const gateway = await startGateway({ env: Deno.env.toObject(), readTextFile }, {
  ...gatewayServices(Deno.env.toObject()),
  runtime: `deno ${Deno.version.deno}`,
  // Deno's Response copies a Headers faster than it reads an object (core/http/render.ts).
  shareResponseHeaders: true
}).catch(exitOnStartError)
const serve = () =>
  Deno.serve(
    {
      hostname: gateway.hostname,
      port: gateway.port,
      onListen: ({ hostname, port }) => listening(hostname, port, `deno ${Deno.version.deno}`)
    },
    gateway.fetch
  )
let server: ReturnType<typeof serve>
try {
  server = serve()
} catch (error) {
  server = await exitOnListenError(error, gateway)
}
// metrics_port: /metrics alone on its own port.
if (gateway.metrics) {
  Deno.serve(
    { hostname: gateway.hostname, port: gateway.metrics.port, onListen: () => undefined },
    gateway.metrics.fetch
  )
}

// server.shutdown() stops accepting and resolves once the requests in flight have finished.
const shutdownOn = (signal: Deno.Signal) => () =>
  void stopGracefully(gateway, signal, () => server.shutdown()).then(() => Deno.exit(0))
Deno.addSignalListener("SIGINT", shutdownOn("SIGINT"))
Deno.addSignalListener("SIGTERM", shutdownOn("SIGTERM"))
