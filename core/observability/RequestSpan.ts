/** The opener of a request's span is a domain type: defined with the request that carries it. */
export type { RequestSpan } from "../domain/RequestSpan.ts"

export const nowNanos = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1_000_000))
