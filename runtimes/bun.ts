import { startGateway } from "../core/Gateway.ts"
import { loadEmbeddedEngine } from "./embedded/llama.ts"
import { connectRedis } from "./redis.ts"
import { exitOnListenError, exitOnStartError, listening, readTextFile, semanticBackends } from "./shared.ts"

const gateway = await startGateway({ env: process.env, readTextFile }, {
  redis: connectRedis,
  embedded: loadEmbeddedEngine,
  semantic: semanticBackends(process.env)
}).catch(exitOnStartError)
let server: ReturnType<typeof Bun.serve>
try {
  server = Bun.serve({ fetch: gateway.fetch, hostname: gateway.hostname, port: gateway.port, idleTimeout: 0 })
} catch (error) {
  server = await exitOnListenError(error, gateway)
}
listening(server.hostname ?? gateway.hostname, server.port ?? gateway.port, `bun ${Bun.version}`)

const shutdown = async () => {
  await server.stop() // stops accepting; in-flight requests finish
  await gateway.dispose()
  process.exit(0)
}
process.once("SIGINT", shutdown)
process.once("SIGTERM", shutdown)
