import type { ProviderStatus } from "../core/providers/health/ProviderLink.ts"
import { type AdminOptions, adminRequest } from "./adminApi.ts"
import { bold, dim, green, printJson, red, yellow } from "./output.ts"

export interface ProvidersOptions extends AdminOptions {
  readonly json?: boolean
}

const paintState = (state: string) =>
  state === "ok" || state === "closed"
    ? green(state)
    : state === "invalid" || state === "open"
    ? red(state)
    : yellow(state)

const until = (iso: string | undefined) => (iso === undefined ? "" : dim(` until ${iso}`))

/** One provider: its breaker and retry budget on one line, then a line per key (masked). */
const describe = (provider: ProviderStatus): Array<string> => [
  `${bold(provider.provider)} ${dim(`(${provider.role}, ${provider.strategy})`)}  breaker ${
    paintState(provider.breaker.state)
  }${
    until(provider.breaker.open_until)
  }  recent failures ${provider.breaker.recent_failures}/${provider.breaker.recent_calls}  retries ${provider.retry_budget.retries}/${provider.retry_budget.allowed} in 10 s`,
  ...provider.keys.map((key) =>
    `  ${key.key.padEnd(18)} ${key.label.padEnd(12)} ${
      paintState(key.state).padEnd(8)
    } requests ${key.requests}  429s ${key.rate_limited}  failures ${key.failures}${until(key.cooling_until)}`
  )
]

/** `isartor providers`: `GET /admin/providers`, as lines or JSON; exit 1 when a breaker is open. */
export const providers = async (options: ProvidersOptions): Promise<number> => {
  const answer = await adminRequest(options, "GET", "/admin/providers")
  const list = answer.data as ReadonlyArray<ProviderStatus>
  if (options.json) printJson(answer)
  else for (const provider of list) for (const line of describe(provider)) console.log(line)
  return list.some((provider) => provider.breaker.state === "open") ? 1 : 0
}
