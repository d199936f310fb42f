import { eventually } from "./eventually.ts"
import { type FakeProviders, makeGate } from "./fakeProviders.ts"

/**
 * Sends `send`'s concurrent identical requests with the upstream's next answer held behind a gate, and opens it only
 * once the gateway's `/health` shows the one call in flight and `followers` requests waiting on it: each request is
 * then known to have joined that call, however slow the machine, and none can have been answered from the cache.
 */
export const whileFollowersWait = async <A>(
  gatewayUrl: string,
  upstream: FakeProviders,
  followers: number,
  send: () => Promise<A>
): Promise<A> => {
  const gate = makeGate()
  const held = { kind: "ok", gate: gate.closed } as const
  upstream.queue.unshift(held)
  const sent = send()
  // Awaited below; a failure while the gate is shut is reported there, not as an unhandled rejection.
  void sent.catch(() => undefined)
  try {
    await eventually(async () => {
      const health = (await (await fetch(`${gatewayUrl}/health`)).json()) as {
        coalescing: { in_flight: number; followers: number }
      }
      return health.coalescing.in_flight === 1 && health.coalescing.followers === followers
    }, { what: `${followers} requests to follow the one in flight`, timeoutMs: 30_000 })
  } finally {
    gate.open()
    // Not taken when the wait failed: a later request must not inherit the gate.
    const left = upstream.queue.indexOf(held)
    if (left >= 0) upstream.queue.splice(left, 1)
  }
  return sent
}
