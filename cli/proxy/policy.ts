import { lookup as dnsLookup } from "node:dns/promises"
import { isIP } from "node:net"

/** A host the proxy may tunnel to: a name or an address, on one port or (no port) on any. */
export interface HostRule {
  readonly host: string
  readonly port: number | undefined
}

/**
 * The providers' own hosts besides those the proxy reads (INTERCEPTED_HOSTS), on port 443: xAI's API, and the
 * sign-in hosts the proxied tools cannot work without (Copilot's token comes from api.github.com, Antigravity
 * refreshes its Google token at oauth2.googleapis.com).
 */
export const PROVIDER_HOSTS = ["api.x.ai:443", "api.github.com:443", "github.com:443", "oauth2.googleapis.com:443"]

const NAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/

/** An address in one spelling (`::ffff:7f00:1`, not `::FFFF:127.0.0.1`), so a listed one matches however asked. */
const canonicalAddress = (address: string): string | undefined => {
  if (isIP(address) !== 6) return address
  try {
    return new URL(`http://[${address}]`).hostname.slice(1, -1)
  } catch {
    return undefined // a zone (`fe80::1%eth0`): not a host a client names
  }
}

/** `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address; undefined when it is none of those. */
export const parseHostRule = (entry: string): HostRule | undefined => {
  const text = entry.trim().toLowerCase()
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d{1,5}))?$/.exec(text)
  const [host, portText] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : isIP(text) === 6
    ? [text, undefined]
    : (/^([^:]+)(?::(\d{1,5}))?$/.exec(text)?.slice(1) ?? [])
  if (host === undefined) return undefined
  const port = portText === undefined ? undefined : Number(portText)
  if (port !== undefined && (port < 1 || port > 65535)) return undefined
  if (bracketed && isIP(host) !== 6) return undefined
  if (isIP(host) !== 0) {
    const address = canonicalAddress(host)
    return address === undefined ? undefined : { host: address, port }
  }
  const name = host.replace(/\.$/, "")
  return name.length <= 253 && NAME.test(name) ? { host: name, port } : undefined
}

/** A CONNECT target (`host:port`, `[v6]:port`); undefined when it is not one, or names no port. */
export const parseTarget = (authority: string): { readonly host: string; readonly port: number } | undefined => {
  const rule = parseHostRule(authority)
  return rule?.port === undefined ? undefined : { host: rule.host, port: rule.port }
}

/** `host:port` as allow_hosts takes it. */
export const entryOf = (host: string, port: number) => `${isIP(host) === 6 ? `[${host}]` : host}:${port}`

/** Where the configured providers' URLs point (external_llm_url, providers.<id>.url), as rules on their ports. */
export const hostsOfUrls = (urls: ReadonlyArray<string>): Array<HostRule> =>
  urls.flatMap((text) => {
    try {
      const url = new URL(text)
      const port = url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80
      const rule = parseHostRule(url.hostname)
      return rule === undefined ? [] : [{ host: rule.host, port }]
    } catch {
      return []
    }
  })

type AddressKind = "loopback" | "private" | "link-local" | "unspecified"

const bytesOf = (address: string): Array<number> | undefined => {
  if (isIP(address) === 4) return address.split(".").map(Number)
  if (isIP(address) !== 6) return undefined
  const [head = "", tail] = address.split("%", 1)[0]!.split("::") as [string, string | undefined]
  const groups = (part: string | undefined) =>
    part === undefined || part === ""
      ? []
      : part.split(":").flatMap((group) =>
        group.includes(".") ?
          (() => {
            const [a, b, c, d] = group.split(".").map(Number) as [number, number, number, number]
            return [(a << 8) | b, (c << 8) | d]
          })() :
          [parseInt(group, 16)]
      )
  const left = groups(head)
  const right = groups(tail)
  const words = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right]
  return words.flatMap((word) => [word >> 8, word & 0xff])
}

const V4_RANGES: ReadonlyArray<readonly [ReadonlyArray<number>, number, AddressKind]> = [
  [[127, 0, 0, 0], 8, "loopback"],
  // 0.0.0.0 reaches this machine on Linux and macOS.
  [[0, 0, 0, 0], 8, "unspecified"],
  [[10, 0, 0, 0], 8, "private"],
  [[172, 16, 0, 0], 12, "private"],
  [[192, 168, 0, 0], 16, "private"],
  // Carrier-grade NAT's shared space, which VPNs such as Tailscale give their hosts.
  [[100, 64, 0, 0], 10, "private"],
  [[169, 254, 0, 0], 16, "link-local"]
]
const V6_RANGES: ReadonlyArray<readonly [ReadonlyArray<number>, number, AddressKind]> = [
  [[...Array(15).fill(0), 1], 128, "loopback"],
  [Array(16).fill(0), 128, "unspecified"],
  [[0xfe, 0x80], 10, "link-local"],
  // Site-local (deprecated, still routed on some networks) and unique local addresses.
  [[0xfe, 0xc0], 10, "private"],
  [[0xfc, 0x00], 7, "private"]
]

const inRange = (bytes: ReadonlyArray<number>, prefix: ReadonlyArray<number>, bits: number) => {
  for (let bit = 0; bit < bits; bit += 8) {
    const mask = bits - bit >= 8 ? 0xff : (0xff << (8 - (bits - bit))) & 0xff
    if (((bytes[bit / 8] ?? 0) & mask) !== ((prefix[bit / 8] ?? 0) & mask)) return false
  }
  return true
}

/** What kind of inside address this is (loopback, private, link-local, unspecified); undefined for a public one or a name. */
export const addressKind = (address: string): AddressKind | undefined => {
  const bytes = bytesOf(address)
  if (bytes === undefined) return undefined
  if (bytes.length === 4) return V4_RANGES.find(([prefix, bits]) => inRange(bytes, prefix, bits))?.[2]
  const v6 = V6_RANGES.find(([prefix, bits]) => inRange(bytes, prefix, bits))?.[2]
  if (v6 !== undefined) return v6
  // An IPv4 address in IPv6 clothing (`::ffff:127.0.0.1`, the older `::127.0.0.1`) is that IPv4 address.
  const mapped = inRange(bytes, [...Array(10).fill(0), 0xff, 0xff], 96) || inRange(bytes, Array(12).fill(0), 96)
  return mapped ? addressKind(bytes.slice(12).join(".")) : undefined
}

export type TunnelDecision =
  | { readonly kind: "tunnel"; readonly host: string; readonly port: number }
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "unreachable"; readonly reason: string }

export interface TunnelPolicy {
  /** Where to dial for `target` (`where`: where it really is, which tests point at loopback), or why not. */
  readonly decide: (
    target: { readonly host: string; readonly port: number },
    where: { readonly host: string; readonly port: number }
  ) => Promise<TunnelDecision>
}

const systemLookup = async (host: string) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((found) => found.address)

const matches = (rules: ReadonlyArray<HostRule>, host: string, port: number) =>
  rules.some((rule) => rule.host === host && (rule.port === undefined || rule.port === port))

const an = (kind: AddressKind) => `${kind === "unspecified" ? "an" : "a"} ${kind} address`

/**
 * Which CONNECTs the proxy serves: a host listed in proxy.allow_hosts (any address, loopback included), else a
 * provider's host on its port, whose every address must be public (checked on the addresses it resolves to, which
 * are the ones dialled: a name rebound to 127.0.0.1 is refused). A name that is neither is refused unresolved.
 */
export const tunnelPolicy = (options: {
  readonly allowHosts: ReadonlyArray<HostRule>
  readonly providerHosts: ReadonlyArray<HostRule>
  /** Hosts whose subdomains are the providers' too (the hosts the proxy reads), on port 443. */
  readonly providerDomains: ReadonlyArray<string>
  readonly lookup?: ((host: string) => Promise<ReadonlyArray<string>>) | undefined
}): TunnelPolicy => {
  const lookup = options.lookup ?? systemLookup
  const isProviders = (host: string, port: number) =>
    matches(options.providerHosts, host, port) ||
    (port === 443 && options.providerDomains.some((domain) => host === domain || host.endsWith(`.${domain}`)))
  const refused = (target: { host: string; port: number }, why: string): TunnelDecision => ({
    kind: "refused",
    reason: `refused CONNECT to ${entryOf(target.host, target.port)}: ${why}; proxy.allow_hosts ` +
      `(ISARTOR__PROXY__ALLOW_HOSTS) allows it: ${entryOf(target.host, target.port)}`
  })
  return {
    decide: async (target, where) => {
      const listed = matches(options.allowHosts, target.host, target.port)
      if (!listed) {
        const literal = addressKind(target.host)
        if (literal !== undefined) return refused(target, `${target.host} is ${an(literal)}`)
        if (!isProviders(target.host, target.port)) return refused(target, "not one of the providers' hosts")
      }
      const addresses = isIP(where.host) !== 0
        ? [where.host]
        : await lookup(where.host).catch((error: NodeJS.ErrnoException) => error.code ?? error.message)
      if (typeof addresses === "string" || addresses.length === 0) {
        const why = typeof addresses === "string" ? addresses : "no address"
        return { kind: "unreachable", reason: `${target.host} does not resolve (${why})` }
      }
      const inside = listed ? undefined : addresses.find((address) => addressKind(address) !== undefined)
      if (inside !== undefined) {
        return refused(target, `${target.host} resolves to ${inside}, ${an(addressKind(inside)!)}`)
      }
      return { kind: "tunnel", host: addresses[0]!, port: where.port }
    }
  }
}
