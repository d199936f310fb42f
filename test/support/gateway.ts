import { serve } from "@hono/node-server"
import type { AddressInfo } from "node:net"
import { after, before, beforeEach } from "node:test"
import type { EmbeddingBackend } from "../../core/embedding/Embedder.ts"
import { type Gateway, type GatewayOptions, type SemanticBackends, startGateway } from "../../core/Gateway.ts"
import { startFakeOpenAI, TEST_PROVIDER_KEY } from "./fakeOpenAI.ts"
import { type FakeModel, type FakeProviders, startFakeProviders } from "./fakeProviders.ts"

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

/** A gateway of a test file: its environment on top of the fake upstream's URL and key, and what else it is given. */
export interface GatewaySetup {
  readonly env?: Record<string, string>
  readonly files?: Record<string, string>
  readonly semantic?: SemanticBackends
  readonly redis?: GatewayOptions["redis"]
  readonly options?: GatewayOptions
}

/**
 * Which fake upstream: `echo` (default), the OpenAI API whose model echoes the last message ("Answer #n to: …"), its
 * URL the API's `/v1`; or `providers`, every provider's API with the conversation model (fakeModel.ts), its URL the
 * server's root — the gateway is pointed at its OpenAI `/v1` unless its environment says otherwise.
 */
export interface FakeUpstreamChoice {
  readonly kind?: "echo" | "providers"
  /** The key the fake requires; `TEST_PROVIDER_KEY` by default. */
  readonly key?: string
  /** With `providers`: the model behind it, instead of the conversation model. */
  readonly model?: FakeModel
}

export interface FakeUpstreamFile<Names extends string> {
  /** The file's fake upstream; set once its tests run. */
  readonly upstream: FakeProviders
  /** The file's gateways, by the names `fakeUpstreamGateways` was given; set once its tests run. */
  readonly gateways: Record<Names, RunningGateway>
}

type SetupOf = GatewaySetup | ((upstream: FakeProviders) => GatewaySetup)

/**
 * The set-up test files share: one fake upstream and gateways on it, each a real listening server in this process,
 * started before the file's tests (or the enclosing `describe`'s) and closed after. Before each test the fake forgets
 * its calls and queued behaviours and answers `ok` again, so a test sees only its own calls.
 */
export const fakeUpstreamGateways = <const Names extends string>(
  setups: Record<Names, SetupOf>,
  choice: FakeUpstreamChoice = {}
): FakeUpstreamFile<Names> => {
  const file = { upstream: undefined as unknown as FakeProviders, gateways: {} as Record<Names, RunningGateway> }
  before(async () => {
    const key = choice.key ?? TEST_PROVIDER_KEY
    file.upstream = choice.kind === "providers"
      ? await startFakeProviders(key, choice.model ? { model: choice.model } : {})
      : await startFakeOpenAI({ apiKey: key })
    const url = choice.kind === "providers" ? `${file.upstream.url}/v1` : file.upstream.url
    for (const [name, entry] of Object.entries(setups) as Array<[Names, SetupOf]>) {
      const setup: GatewaySetup = typeof entry === "function" ? entry(file.upstream) : entry
      file.gateways[name] = await startTestGateway(
        { ISARTOR__EXTERNAL_LLM_URL: url, ISARTOR__EXTERNAL_LLM_API_KEY: key, ...setup.env },
        setup.files,
        setup.semantic,
        setup.redis,
        undefined,
        setup.options
      )
    }
  })
  after(async () => {
    for (const gateway of Object.values<RunningGateway>(file.gateways)) await gateway.close()
    await file.upstream?.close()
  })
  beforeEach(() => {
    file.upstream.calls.length = 0
    file.upstream.abandoned.length = 0
    file.upstream.queue.length = 0
    file.upstream.setDefault({ kind: "ok" })
  })
  return file
}

/** `fakeUpstreamGateways` with one gateway: the file's `upstream` and `gateway`. */
export const fakeUpstreamGateway = (
  setup: SetupOf = {},
  choice: FakeUpstreamChoice = {}
): { readonly upstream: FakeProviders; readonly gateway: RunningGateway } => {
  const file = fakeUpstreamGateways({ gateway: setup }, choice)
  return {
    get upstream() {
      return file.upstream
    },
    get gateway() {
      return file.gateways.gateway
    }
  }
}

/**
 * For a test file of L1b gateways: the fake OpenAI upstream for the whole file, and `withGateway`, which runs a
 * gateway on it for one test with the given semantic backends and extra environment.
 */
export const semanticGateways = (backends: SemanticBackends) => {
  const file = fakeUpstreamGateways({})
  return {
    withGateway: (
      extra: Record<string, string>,
      run: (gateway: RunningGateway) => Promise<void>,
      options: GatewayOptions = {}
    ) => withTestGateway(upstreamEnv(file.upstream.url, extra), run, backends, options)
  }
}

/**
 * The encoder's vectors, each text's computed once for the whole file: for a test that starts many gateways on the
 * same prompts (one per setting), where what it checks is the gateway's use of the vectors, not the encoder's work.
 * Not for a test that counts the encoder's calls.
 */
export const rememberingVectors = (backend: EmbeddingBackend): EmbeddingBackend => {
  const vectors = new Map<string, Float32Array>()
  return {
    ...backend,
    embed: async (texts) => {
      const missing = [...new Set(texts.filter((text) => !vectors.has(text)))]
      if (missing.length > 0) (await backend.embed(missing)).forEach((vector, n) => vectors.set(missing[n]!, vector))
      return texts.map((text) => vectors.get(text)!)
    }
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
