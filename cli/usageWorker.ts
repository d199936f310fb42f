// The usage ledger's worker entrypoint in the single binary: beside cli/bun.ts, so it lands where
// runtimes/usage/sqliteStore.ts looks for it (./usageWorker.ts next to the executable's main module).
import "../runtimes/usage/usageWorker.ts"
