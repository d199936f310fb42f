// Portkey's OSS gateway (the npm package), started as the peer the miss-path benches compare against, routed to the
// same fake upstream as the gateway under test.
import { readFile } from "node:fs/promises"
import { projectRoot, type StartedProcess, startProcess } from "../test/support/processes.ts"

export interface RunningPortkey {
  readonly process: StartedProcess
  readonly version: string
  /** Where a chat completion goes, and the headers that send it to `upstreamUrl` as OpenAI. */
  readonly target: { readonly url: string; readonly headers: Record<string, string> }
}

export const portkeyVersion = async () =>
  (JSON.parse(await readFile(`${projectRoot}node_modules/@portkey-ai/gateway/package.json`, "utf8")) as {
    version: string
  }).version

export const startPortkey = async (upstreamUrl: string): Promise<RunningPortkey> => {
  const port = 20000 + Math.floor(Math.random() * 20000)
  const process_ = await startProcess(
    [
      process.execPath,
      `${projectRoot}node_modules/@portkey-ai/gateway/build/start-server.js`,
      `--port=${port}`,
      "--headless"
    ],
    {},
    60_000,
    /(Ready for connections)/
  )
  return {
    process: process_,
    version: await portkeyVersion(),
    target: {
      url: `http://127.0.0.1:${port}/v1/chat/completions`,
      headers: {
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": upstreamUrl,
        authorization: "Bearer sk-bench-0000000000000000"
      }
    }
  }
}
