// The command on Bun: `bun cli/bun.ts`, and the single binary (`npm run build:binary` compiles this file).
import { checkoutRuntimeCommand, isCompiled } from "./host.ts"
import { main } from "./main.ts"

process.exit(
  await main({
    runtime: "bun",
    compiled: isCompiled(),
    serve: () => import("../runtimes/bun.ts"),
    semantic: async (env) => (await import("../runtimes/shared.ts")).semanticBackends(env),
    runtimeCommand: checkoutRuntimeCommand
  })
)
