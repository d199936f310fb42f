// Node 20 cannot start a TypeScript worker by itself (the `--import tsx` hooks do not reach worker threads): the
// worker compiled with the command when it matches the sources (bin/prebuilt.mjs), else tsx registered in this
// thread, then the real worker (as runtimes/embedding/worker-node.mjs does).
import { prebuiltWorker } from "../../bin/prebuilt.mjs"

const compiled = prebuiltWorker("runtimes/usage/usageWorker.ts")
if (compiled) await import(compiled)
else {
  const { register } = await import("tsx/esm/api")
  register()
  await import("./usageWorker.ts")
}
