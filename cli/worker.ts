// The embedding worker's entrypoint in the single binary: beside cli/bun.ts, so it lands where
// runtimes/embedding/inWorker.ts looks for it (./worker.ts next to the executable's main module).
import "../runtimes/embedding/worker.ts"
