import { serve } from "@hono/node-server"
import type { AddressInfo } from "node:net"
import { after, before } from "node:test"
import { type Gateway, type GatewayOptions, type SemanticBackends, startGateway } from "../../core/Gateway.ts"
import { type FakeOpenAI, startFakeOpenAI, TEST_PROVIDER_KEY } from "./fakeOpenAI.ts"

export { TEST_PROVIDER_KEY }

export interface RunningGateway {
  readonly url: string
  readonly gateway: Gateway
  readonly warnings: Array<string>
  close(): Promise<void>
}

/** Starts the gateway in this process as a real listening server on a free loopback port. */
export const startTestGateway = async (
  env: Record<string, string>,
  files: Record<string, string> = {},
  semantic?: SemanticBackends,
  redis?: GatewayOptions["redis"],
  embedded?: GatewayOptions["embedded"],
  options: GatewayOptions = {}
): Promise<RunningGateway> => {
  const warnings: Array<string> = []
  const gateway = await startGateway(
    {
      // The false-hit budget serves only what a stream of checked hits has shown safe: a test of one hit turns it
      // off; the budget's own tests set it.
      env: { ISARTOR__HOST_PORT: "127.0.0.1:0", ISARTOR__L1B_ERROR_BUDGET: "1", ...env },
      readTextFile: async (path) => files[path]
    },
    {
      ...options,
      log: { info: () => undefined, warn: (line) => warnings.push(line) },
      ...(semantic ? { semantic } : {}),
      ...(redis ? { redis } : {}),
      ...(embedded ? { embedded } : {})
    }
  )
  const server = serve({ fetch: gateway.fetch, hostname: "127.0.0.1", port: 0 })
  await new Promise<void>((resolve) => server.once("listening", () => resolve()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    gateway,
    warnings,
    close: () =>
      new Promise((resolve) => {
        if ("closeAllConnections" in server) server.closeAllConnections()
        server.close(() => void gateway.dispose().then(() => resolve()))
      })
  }
}

/** Runs `run` against a test gateway started with `env` (and `semantic`), closing it afterwards whatever happens. */
export const withTestGateway = async (
  env: Record<string, string>,
  run: (gateway: RunningGateway) => Promise<void>,
  semantic?: SemanticBackends,
  options: GatewayOptions = {}
): Promise<void> => {
  const gateway = await startTestGateway(env, {}, semantic, undefined, undefined, options)
  try {
    await run(gateway)
  } finally {
    await gateway.close()
  }
}

/** The environment of a gateway whose upstream is the given fake. */
export const upstreamEnv = (upstreamUrl: string, extra: Record<string, string> = {}): Record<string, string> => ({
  ISARTOR__EXTERNAL_LLM_URL: upstreamUrl,
  ISARTOR__EXTERNAL_LLM_API_KEY: TEST_PROVIDER_KEY,
  ...extra
})

/**
 * For a test file of L1b gateways: a fake OpenAI upstream for the whole file (started before, closed after), and
 * `withGateway`, which runs a gateway on it with the given semantic backends and extra environment.
 */
export const semanticGateways = (backends: SemanticBackends) => {
  let upstream: FakeOpenAI
  before(async () => {
    upstream = await startFakeOpenAI()
  })
  after(() => upstream.close())
  return {
    withGateway: (
      extra: Record<string, string>,
      run: (gateway: RunningGateway) => Promise<void>,
      options: GatewayOptions = {}
    ) => withTestGateway(upstreamEnv(upstream.url, extra), run, backends, options)
  }
}

/** A prompt on the native endpoint: which layer answered, the L1b stage, similarity and score (NaN when absent), the body. */
export const askNative = async (gateway: RunningGateway, prompt: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`${gateway.url}/api/chat`, { method: "POST", headers, body: JSON.stringify({ prompt }) })
  return {
    layer: response.headers.get("x-isartor-layer"),
    stage: response.headers.get("x-isartor-l1b-stage"),
    similarity: Number(response.headers.get("x-isartor-similarity") ?? Number.NaN),
    /** The learned decision's score on an L1b hit (NaN when absent). */
    score: Number(response.headers.get("x-isartor-l1b-score") ?? Number.NaN),
    body: (await response.json()) as { message: string }
  }
}
