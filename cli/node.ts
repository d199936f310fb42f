// The command on Node (bin/isartor): the gateway is served in this process by runtimes/node.ts.
import { checkoutRuntimeCommand } from "./host.ts"
import { main } from "./main.ts"

process.exit(
  await main({
    runtime: "node",
    compiled: false,
    serve: () => import("../runtimes/node.ts"),
    semantic: async (env) =>
      (await import("../runtimes/shared.ts")).semanticBackends(
        env,
        new URL("../runtimes/embedding/worker-node.mjs", import.meta.url)
      ),
    runtimeCommand: checkoutRuntimeCommand
  })
)
