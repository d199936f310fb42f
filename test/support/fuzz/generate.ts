// fast-check generators of whole requests and scenarios (a request, sometimes sent again or a little changed, so the
// caches hit and near-miss), for the gateways a run has and how it reaches them.
import fc from "fast-check"
import { bodyArbitrary } from "./bodies.ts"
import { chatPaths, FUZZ_GATEWAY_KEY, type FuzzRequest, type Scenario, type Target } from "./request.ts"
import { contentType, header, route } from "./routes.ts"
import { longTextOf } from "./values.ts"

const targetWeights: Record<Target, number> = { open: 11, secured: 4, semantic: 5 }

/**
 * How the gateways are reached. `inProcess` false: they run in other processes, every request goes over a socket.
 * `unparsedMethods`: methods the runtime's own HTTP server drops before the gateway sees them, so none is sent.
 */
export interface Reach {
  readonly inProcess: boolean
  readonly unparsedMethods: ReadonlyArray<string>
}
export const inThisProcessReach: Reach = { inProcess: true, unparsedMethods: [] }

export const fuzzRequest = (
  targets: ReadonlyArray<Target>,
  { inProcess, unparsedMethods }: Reach = inThisProcessReach
): fc.Arbitrary<FuzzRequest> => {
  const requests = fc.record({
    target: fc.oneof(...targets.map((target) => ({ weight: targetWeights[target], arbitrary: fc.constant(target) }))),
    // Most callers of a secured gateway send its key; the rest test the 401.
    auth: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    transport: fc.oneof({ weight: 17, arbitrary: fc.constant("in-process" as const) }, {
      weight: 3,
      arbitrary: fc.constant("socket" as const)
    }),
    route,
    headers: fc.array(header, { maxLength: 5 }),
    contentType,
    delivery: fc.oneof({ weight: 8, arbitrary: fc.constant("whole" as const) }, {
      weight: 1,
      arbitrary: fc.constantFrom("chunked" as const, "slow" as const)
    })
  }).chain(({ route: { method, path }, contentType, headers, auth, ...rest }) =>
    bodyArbitrary(chatPaths[path] ?? "openai").map((body): FuzzRequest => ({
      ...rest,
      method,
      path,
      headers: [
        ...(auth && rest.target === "secured" ? [["x-api-key", FUZZ_GATEWAY_KEY] as const] : []),
        ...(contentType === undefined ? [] : [["content-type", contentType] as const]),
        ...headers
      ],
      // A body on GET or HEAD only exists on the wire; on TRACE, Node's HTTP parser refuses it (a bare 400).
      body: method === "GET" || method === "HEAD" || method === "TRACE" ? undefined : body,
      // fetch refuses TRACE, so it goes over a socket; Node's HTTP parser refuses FOO (a bare 400): in-process.
      ...(method === "TRACE" || !inProcess
        ? { transport: "socket" as const }
        : method === "FOO"
        ? { transport: "in-process" as const }
        : {})
    }))
  )
  return unparsedMethods.length === 0 ? requests : requests.filter(({ method }) => !unparsedMethods.includes(method))
}

/** The same request again (an exact hit), or its prompt with a small change (a semantic near-miss). */
const varied = (request: FuzzRequest, change: "again" | "variant"): FuzzRequest => {
  if (change === "again" || typeof request.body !== "string") return request
  return { ...request, body: request.body.replace(/"(content|prompt)":"/, "\"$1\":\"Please, ") }
}

/** A long pasted prompt, then the same prompt reworded a little: L1b finds the first as a candidate for the second. */
const pastedTwice = (inProcess: boolean): fc.Arbitrary<Scenario> =>
  longTextOf(20_000).map((prompt) => {
    const ask = (text: string): FuzzRequest => ({
      target: "semantic",
      transport: inProcess ? "in-process" : "socket",
      method: "POST",
      path: "/api/chat",
      headers: [["content-type", "application/json"]],
      body: JSON.stringify({ prompt: text }),
      delivery: "whole"
    })
    return [ask(prompt), ask(`Please, ${prompt}`)]
  })

export const fuzzScenario = (targets: ReadonlyArray<Target>, reach = inThisProcessReach): fc.Arbitrary<Scenario> => {
  const generated = fc.tuple(
    fuzzRequest(targets, reach),
    fc.constantFrom("once", "once", "once", "once", "once", "once", "again", "variant")
  )
    .map(([request, repeat]): Scenario => (repeat === "once" ? [request] : [request, varied(request, repeat)]))
  return targets.includes("semantic")
    ? fc.oneof({ weight: 150, arbitrary: generated }, { weight: 1, arbitrary: pastedTwice(reach.inProcess) })
    : generated
}
