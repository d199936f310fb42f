// Node 20 cannot start a TypeScript worker by itself (the `--import tsx` hooks do not reach worker threads):
// register tsx in this thread, then load the real worker (as runtimes/embedding/worker-node.mjs does).
import { register } from "tsx/esm/api"

register()
await import("./usageWorker.ts")
