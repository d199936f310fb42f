import { after, before, beforeEach } from "node:test"
import { type FakeProviders, startFakeProviders } from "./fakeProviders.ts"
import { type RunningGateway, startTestGateway } from "./gateway.ts"

/**
 * For a test file: one fake upstream speaking every provider's wire format, and a gateway per entry of `setups`
 * (its environment on top of the fake's URL and key), started before the file's tests and closed after; the fake's
 * calls and queued behaviours are cleared before each test.
 */
export const gatewaysOnFakeProviders = (setups: Record<string, (fake: FakeProviders) => Record<string, string>>) => {
  const running = { fake: undefined as unknown as FakeProviders, gateways: {} as Record<string, RunningGateway> }
  before(async () => {
    running.fake = await startFakeProviders()
    for (const [name, setup] of Object.entries(setups)) {
      running.gateways[name] = await startTestGateway({
        ISARTOR__EXTERNAL_LLM_URL: `${running.fake.url}/v1`,
        ISARTOR__EXTERNAL_LLM_API_KEY: running.fake.apiKey,
        ...setup(running.fake)
      })
    }
  })
  after(async () => {
    for (const gateway of Object.values(running.gateways)) await gateway.close()
    await running.fake.close()
  })
  beforeEach(() => {
    running.fake.calls.length = 0
    running.fake.queue.length = 0
  })
  return running
}
