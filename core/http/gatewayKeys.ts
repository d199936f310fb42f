import type { GatewayKeySpec } from "../config/usageLeaves.ts"

/** A named gateway key (`gateway_keys`): its label, and the SHA-256 of the key — never the key itself. */
export interface NamedGatewayKey {
  readonly label: string
  readonly sha256: Uint8Array
}

const encoder = new TextEncoder()

export const sha256Of = async (text: string): Promise<Uint8Array> =>
  new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)))

const bytesOfHex = (hex: string) => Uint8Array.from(hex.match(/../g)!, (pair) => Number.parseInt(pair, 16))

/** Compares every byte whatever it finds, so the time taken says nothing of where two digests differ. */
export const sameDigest = (a: Uint8Array, b: Uint8Array): boolean => {
  let difference = a.length ^ b.length
  for (let index = 0; index < a.length; index++) difference |= a[index]! ^ (b[index] ?? 0)
  return difference === 0
}

/**
 * The configured keys with their digests: given as one, or hashed from the variable `key_env` names (read from the
 * environment the runtime handed the gateway). A variable that is unset or empty is a start-up error.
 */
export const namedGatewayKeys = async (
  specs: ReadonlyArray<GatewayKeySpec>,
  env: Readonly<Record<string, string | undefined>>
): Promise<ReadonlyArray<NamedGatewayKey>> =>
  Promise.all(specs.map(async (spec) => {
    if (spec.sha256 !== undefined) return { label: spec.label, sha256: bytesOfHex(spec.sha256.toLowerCase()) }
    const key = env[spec.key_env!]?.trim()
    if (!key) throw new Error(`gateway_keys: ${spec.key_env} (the key of "${spec.label}") is not set`)
    return { label: spec.label, sha256: await sha256Of(key) }
  }))

/** The label of the named key a caller presented; `undefined` when it is none of them. All are compared. */
export const labelOfKey = async (
  presented: string,
  named: ReadonlyArray<NamedGatewayKey>
): Promise<string | undefined> => {
  const digest = await sha256Of(presented)
  let found: string | undefined
  for (const key of named) if (sameDigest(digest, key.sha256) && found === undefined) found = key.label
  return found
}
