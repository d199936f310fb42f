import assert from "node:assert/strict"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { type AddressInfo, connect as tcpConnect, createServer as createTcpServer, isIP, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { type Authority, loadAuthority } from "../../cli/proxy/ca.ts"
import { addressKind, parseHostRule } from "../../cli/proxy/policy.ts"
import { type RunningProxy, startProxy } from "../../cli/proxy/server.ts"
import { userEnv } from "../cli/run.ts"
import { projectRoot, runtimeCommand } from "../support/processes.ts"

// `isartor proxy` reaches only the hosts it is configured for: a local process cannot use it to reach a Redis, the
// gateway's admin API or a cloud metadata address. Every socket here is on 127.0.0.1; a target that must be refused
// is refused before anything is dialled or resolved, and a proxy that would dial anyway is pointed at a loopback
// sentinel that counts what reaches it.

/** A loopback TCP server that counts connections and keeps every byte; `echo` sends each byte back. */
const listen = async (echo: boolean) => {
  const received: Array<Buffer> = []
  let connections = 0
  const sockets = new Set<Socket>()
  const server = createTcpServer((socket) => {
    connections++
    sockets.add(socket)
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk)
      if (echo) socket.write(chunk)
    })
    socket.on("error", () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    received: () => Buffer.concat(received).toString(),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
type Listener = Awaited<ReturnType<typeof listen>>

interface Exchange {
  /** Everything the proxy sent back: its answer to the CONNECT, then what came through the tunnel. */
  readonly text: string
  readonly status: number
}

/**
 * A CONNECT (with `early` bytes in the same write, as an impatient client sends them), then `send` once the tunnel
 * is up; resolves when the proxy closes the connection, or once `until` has come back through the tunnel.
 */
const connectThrough = (
  proxyPort: number,
  target: string,
  options: { early?: string; send?: string; until?: string; headers?: string } = {}
) =>
  new Promise<Exchange>((resolve, reject) => {
    const socket = tcpConnect(proxyPort, "127.0.0.1", () => {
      socket.write(
        `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n${options.headers ?? ""}\r\n${options.early ?? ""}`
      )
    })
    let text = ""
    let sent = false
    const done = () => {
      socket.destroy()
      resolve({ text, status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0) })
    }
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString()
      if (!sent && text.includes("\r\n\r\n") && text.startsWith("HTTP/1.1 200 ")) {
        sent = true
        // A tunnel where a refusal was expected: over at once, for the assertion to say so.
        if (options.send === undefined) return done()
        socket.write(options.send)
      }
      if (options.until !== undefined && text.split("\r\n\r\n").slice(1).join("\r\n\r\n").includes(options.until)) {
        done()
      }
    })
    socket.on("end", done)
    socket.on("error", reject)
  })

/** The body of a refusal: after its headers. */
const bodyOf = (exchange: Exchange) => exchange.text.slice(exchange.text.indexOf("\r\n\r\n") + 4)

const dir = mkdtempSync(join(tmpdir(), "isartor-proxy-policy-"))
let authority: Authority
let sentinel: Listener
let echo: Listener
const proxies: Array<RunningProxy> = []
const lookedUp: Array<string> = []
const logged: Array<string> = []

/**
 * A proxy that reads `intercepted.test` and resolves names by a table instead of DNS (whose addresses are all
 * 127.0.0.1), each dial pointed at the sentinel unless a test says otherwise: a refusal that is not one shows up
 * there, and nothing is dialled beyond 127.0.0.1 even then.
 */
const proxyWith = async (options: {
  allowHosts?: ReadonlyArray<string>
  providerHosts?: ReadonlyArray<string>
  names?: Record<string, ReadonlyArray<string>>
  dialSentinel?: boolean
}) => {
  const proxy = await startProxy({
    port: 0,
    authority,
    intercept: ["intercepted.test"],
    ...(options.allowHosts ? { allowHosts: options.allowHosts } : {}),
    ...(options.providerHosts ? { providerHosts: options.providerHosts } : {}),
    ...(options.dialSentinel === false
      ? {}
      : { resolve: (host: string) => ({ host: isIP(host) === 0 ? host : "127.0.0.1", port: sentinel.port }) }),
    lookup: async (host) => {
      lookedUp.push(host)
      const addresses = options.names?.[host]
      if (addresses === undefined) throw Object.assign(new Error("not in the test's table"), { code: "ENOTFOUND" })
      return addresses
    },
    log: (line) => logged.push(line)
  })
  proxies.push(proxy)
  return proxy
}

before(async () => {
  authority = loadAuthority(join(dir, "state"), ["intercepted.test"])
  sentinel = await listen(false)
  echo = await listen(true)
})
after(async () => {
  for (const proxy of proxies) await proxy.close()
  await sentinel.close()
  await echo.close()
  rmSync(dir, { recursive: true, force: true })
})

describe("the proxy's tunnels", () => {
  it("refuses CONNECT to a local port that is not listed: a 403 naming proxy.allow_hosts, and no byte reaches it", async () => {
    // No resolve hook: the proxy dials what it is asked for, as `isartor proxy` does.
    const proxy = await proxyWith({ dialSentinel: false })
    const target = `127.0.0.1:${sentinel.port}`
    const refused = await connectThrough(proxy.port, target, { early: "AUTH hunter2\r\n" })
    assert.equal(refused.status, 403, refused.text)
    assert.match(refused.text, /^HTTP\/1\.1 403 Forbidden\r\n/)
    assert.equal(
      bodyOf(refused),
      `isartor proxy: refused CONNECT to ${target}: 127.0.0.1 is a loopback address; proxy.allow_hosts ` +
        `(ISARTOR__PROXY__ALLOW_HOSTS) allows it: ${target}\n`
    )
    const guarded = await proxyWith({})
    for (const other of [`[::1]:${sentinel.port}`, `[::ffff:127.0.0.1]:${sentinel.port}`, `0.0.0.0:${sentinel.port}`]) {
      const also = await connectThrough(guarded.port, other)
      assert.equal(also.status, 403, `${other}: ${also.text}`)
      assert.match(bodyOf(also), /is an? (loopback|unspecified) address/)
    }
    // A name that is not configured is refused as it is, unresolved.
    const named = await connectThrough(proxy.port, `localhost:${sentinel.port}`)
    assert.equal(named.status, 403)
    assert.match(bodyOf(named), /localhost:\d+: not one of the providers' hosts; proxy\.allow_hosts/)
    assert.equal(sentinel.connections(), 0, "nothing reached the local port")
    assert.equal(lookedUp.length, 0, "nothing was resolved")
  })

  it("refuses private, link-local and unspecified addresses before dialling or resolving anything", async () => {
    const proxy = await proxyWith({})
    const connectionsBefore = sentinel.connections()
    const lookupsBefore = lookedUp.length
    const inside = {
      "10.0.0.5:443": "private",
      "172.16.3.4:443": "private",
      "172.31.255.255:6379": "private",
      "192.168.1.1:443": "private",
      "100.64.0.1:443": "private",
      "169.254.169.254:80": "link-local",
      "[fe80::1]:443": "link-local",
      "[fc00::1]:443": "private",
      "[fd12:3456::1]:443": "private",
      "[::ffff:10.0.0.1]:443": "private",
      "[::ffff:a9fe:a9fe]:80": "link-local",
      "0.0.0.0:443": "unspecified",
      "[::]:443": "unspecified"
    }
    for (const [target, kind] of Object.entries(inside)) {
      const refused = await connectThrough(proxy.port, target)
      assert.equal(refused.status, 403, `${target}: ${refused.text}`)
      assert.match(bodyOf(refused), new RegExp(`is an? ${kind} address; proxy\\.allow_hosts`), target)
    }
    // Their public neighbours are no provider's hosts either: refused as such, not dialled.
    for (const target of ["172.32.0.1:443", "192.169.0.1:443", "11.0.0.1:443"]) {
      const refused = await connectThrough(proxy.port, target)
      assert.equal(refused.status, 403)
      assert.match(bodyOf(refused), /not one of the providers' hosts/)
    }
    assert.equal(sentinel.connections(), connectionsBefore, "nothing was dialled")
    assert.equal(lookedUp.length, lookupsBefore, "nothing was resolved")
  })

  it("refuses a provider's host whose name resolves to an inside address (DNS rebinding), and a provider's host on another port", async () => {
    const proxy = await proxyWith({
      providerHosts: ["api.provider.test:443"],
      names: {
        "api.provider.test": ["127.0.0.1"],
        "intercepted.test": ["127.0.0.1"],
        "chat.intercepted.test": ["127.0.0.1"]
      }
    })
    const connectionsBefore = sentinel.connections()
    const cases = {
      "api.provider.test:443": /api\.provider\.test resolves to 127\.0\.0\.1, a loopback address/,
      "intercepted.test:443": /intercepted\.test resolves to 127\.0\.0\.1, a loopback address/,
      "chat.intercepted.test:443": /chat\.intercepted\.test resolves to 127\.0\.0\.1, a loopback address/,
      "api.provider.test:6379": /api\.provider\.test:6379: not one of the providers' hosts/,
      "intercepted.test:8443": /not one of the providers' hosts/
    }
    for (const [target, reason] of Object.entries(cases)) {
      const refused = await connectThrough(proxy.port, target, { early: "\u0016\u0003\u0001" })
      assert.equal(refused.status, 403, `${target}: ${refused.text}`)
      assert.match(bodyOf(refused), reason)
      assert.match(
        bodyOf(refused),
        new RegExp(`proxy\\.allow_hosts \\(ISARTOR__PROXY__ALLOW_HOSTS\\) allows it: ${target}`)
      )
    }
    assert.equal(sentinel.connections(), connectionsBefore, "nothing was dialled")
  })

  it("checks what a name really resolves to: localhost as a provider's host is refused", async () => {
    // The system's resolver, asked for a loopback name only.
    const proxy = await startProxy({ port: 0, authority, providerHosts: [`localhost:${sentinel.port}`] })
    proxies.push(proxy)
    const refused = await connectThrough(proxy.port, `localhost:${sentinel.port}`)
    assert.equal(refused.status, 403, refused.text)
    assert.match(bodyOf(refused), /localhost resolves to (127\.0\.0\.1|::1), a loopback address/)
    assert.equal(sentinel.connections(), 0)
  })

  it("tunnels to a loopback host listed in allow_hosts, bytes sent with the CONNECT included; its port only when it names one", async () => {
    const proxy = await proxyWith({
      allowHosts: [`127.0.0.1:${echo.port}`, "echo.test"],
      names: { "echo.test": ["127.0.0.1"] },
      dialSentinel: false
    })
    const tunnelled = await connectThrough(proxy.port, `127.0.0.1:${echo.port}`, {
      early: "early ",
      send: "ping",
      until: "early ping"
    })
    assert.match(tunnelled.text, /^HTTP\/1\.1 200 Connection Established\r\n\r\n/)
    assert.equal(bodyOf(tunnelled), "early ping", "the echo server got the early bytes, then the rest")
    // A listed name is resolved and its address dialled, inside or not.
    const named = await connectThrough(proxy.port, `echo.test:${echo.port}`, { send: "named", until: "named" })
    assert.equal(bodyOf(named), "named")
    // 127.0.0.1 is listed on the echo server's port only.
    const otherPort = await connectThrough(proxy.port, `127.0.0.1:${sentinel.port}`)
    assert.equal(otherPort.status, 403)
    assert.equal(sentinel.connections(), 0)
  })

  it("logs a refusal once per host and port, without what the client sent", async () => {
    const proxy = await proxyWith({})
    const before = logged.length
    const headers = "Proxy-Authorization: Basic dXNlcjpodW50ZXIy\r\n"
    for (let attempt = 0; attempt < 3; attempt++) {
      assert.equal(
        (await connectThrough(proxy.port, "192.168.7.7:6379", { headers, early: "AUTH hunter2" })).status,
        403
      )
    }
    assert.equal((await connectThrough(proxy.port, "192.168.7.7:6380", { headers })).status, 403)
    const lines = logged.slice(before)
    assert.deepEqual(lines, [
      "refused CONNECT to 192.168.7.7:6379: 192.168.7.7 is a private address; proxy.allow_hosts (ISARTOR__PROXY__ALLOW_HOSTS) allows it: 192.168.7.7:6379",
      "refused CONNECT to 192.168.7.7:6380: 192.168.7.7 is a private address; proxy.allow_hosts (ISARTOR__PROXY__ALLOW_HOSTS) allows it: 192.168.7.7:6380"
    ])
    assert.doesNotMatch(lines.join("\n"), /dXNlcjpodW50ZXIy|hunter2/)
  })

  it("answers a CONNECT that names no host:port with a 400, and a plain-HTTP proxy request with a 405: nothing dialled", async () => {
    const proxy = await proxyWith({ allowHosts: ["127.0.0.1"] })
    const connectionsBefore = sentinel.connections()
    for (const target of ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "[::1]", "a..b:443", "-a.test:443"]) {
      const refused = await connectThrough(proxy.port, target)
      assert.equal(refused.status, 400, `${target}: ${refused.text}`)
      assert.match(bodyOf(refused), /CONNECT takes host:port/)
    }
    const plain = await new Promise<string>((resolve, reject) => {
      const socket = tcpConnect(proxy.port, "127.0.0.1", () =>
        socket.write(
          `GET http://127.0.0.1:${sentinel.port}/admin HTTP/1.1\r\nHost: 127.0.0.1:${sentinel.port}\r\nConnection: close\r\n\r\n`
        ))
      let text = ""
      socket.on("data", (chunk: Buffer) => (text += chunk.toString()))
      socket.on("end", () => resolve(text))
      socket.on("error", reject)
    })
    assert.match(plain, /^HTTP\/1\.1 405 /)
    assert.match(plain, /only CONNECT/)
    assert.equal(sentinel.connections(), connectionsBefore)
  })

  it("outlives a client that resets its connection while its host is being judged", async () => {
    let release = () => {}
    const judged = new Promise<void>((resolve) => (release = resolve))
    const proxy = await startProxy({
      port: 0,
      authority,
      providerHosts: ["slow.test:443"],
      resolve: () => ({ host: "slow.test", port: sentinel.port }),
      lookup: async () => {
        await judged
        return ["127.0.0.1"]
      }
    })
    proxies.push(proxy)
    const socket = tcpConnect(proxy.port, "127.0.0.1")
    socket.on("error", () => {})
    await new Promise<void>((resolve) => socket.on("connect", resolve))
    socket.write("CONNECT slow.test:443 HTTP/1.1\r\nHost: slow.test:443\r\n\r\n")
    // The proxy has read the CONNECT once a second client's request has been answered (one event loop, in order).
    assert.equal((await connectThrough(proxy.port, "10.9.9.9:443")).status, 403)
    socket.resetAndDestroy()
    // The reset reaches the proxy before a later client's request does, and is handled first: once that request is
    // answered, the proxy knows the first connection is gone while its host is still being judged.
    assert.equal((await connectThrough(proxy.port, "10.9.9.9:443")).status, 403)
    release()
    // Its refusal goes to a connection that is gone: the proxy goes on serving.
    assert.equal((await connectThrough(proxy.port, "10.9.9.9:443")).status, 403)
    assert.equal((await connectThrough(proxy.port, "slow.test:443")).status, 403)
  })

  it("refuses to start with an allow_hosts entry that is not host or host:port", async () => {
    await assert.rejects(
      startProxy({ port: 0, authority, allowHosts: ["redis.internal:6379", "http://x.test/", "a.test:99999"] }),
      /proxy\.allow_hosts: not a host or host:port: http:\/\/x\.test\/, a\.test:99999/
    )
  })
})

describe("the proxy's host rules", () => {
  it("reads host, host:port and IPv6 entries, one spelling per address", () => {
    assert.deepEqual(parseHostRule("Redis.Internal."), { host: "redis.internal", port: undefined })
    assert.deepEqual(parseHostRule(" redis.internal:6379 "), { host: "redis.internal", port: 6379 })
    assert.deepEqual(parseHostRule("[::FFFF:127.0.0.1]:80"), { host: "::ffff:7f00:1", port: 80 })
    assert.deepEqual(parseHostRule("fd00::1"), { host: "fd00::1", port: undefined })
    for (const bad of ["", "http://a.test", "a.test:0", "a.test:65536", "[a.test]:1", "a b", "fe80::1%eth0"]) {
      assert.equal(parseHostRule(bad), undefined, bad)
    }
  })

  it("knows the inside addresses from their neighbours", () => {
    const kinds = {
      "127.0.0.1": "loopback",
      "127.255.255.254": "loopback",
      "::1": "loopback",
      "0.0.0.0": "unspecified",
      "::": "unspecified",
      "10.255.0.1": "private",
      "172.16.0.0": "private",
      "172.31.0.1": "private",
      "192.168.0.1": "private",
      "169.254.169.254": "link-local",
      "fe80::1": "link-local",
      "febf::1": "link-local",
      "fc00::": "private",
      "fdff::1": "private",
      "::ffff:127.0.0.1": "loopback",
      "::ffff:c0a8:101": "private",
      "172.15.255.255": undefined,
      "172.32.0.0": undefined,
      "192.169.0.1": undefined,
      "11.0.0.1": undefined,
      "2606:4700::1111": undefined,
      "fbff::1": undefined,
      "fe00::1": undefined,
      "api.openai.com": undefined
    }
    for (const [address, kind] of Object.entries(kinds)) assert.equal(addressKind(address), kind, address)
  })
})

/** `isartor proxy` as each runtime that runs the command runs it (the gateway-only Deno has no `isartor` command). */
const commands = {
  node: [process.execPath, join(projectRoot, "bin/isartor")],
  bun: runtimeCommand("bun", join(projectRoot, "cli/bun.ts"))
}

describe("the isartor proxy command", () => {
  for (const [runtime, command] of Object.entries(commands)) {
    it(`on ${runtime}: tunnels to proxy.allow_hosts, refuses a local port that is not listed with one log line`, {
      timeout: 120_000
    }, async () => {
      const user = userEnv({ ISARTOR__CACHE_MODE: "exact", ISARTOR__PROXY__ALLOW_HOSTS: `127.0.0.1:${echo.port}` })
      const child = spawn(command[0]!, [...command.slice(1), "proxy", "--port", "0"], {
        cwd: projectRoot,
        env: user.env,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      let stderr = ""
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()))
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      try {
        const port = await new Promise<number>((resolve, reject) => {
          child.stdout.on("data", () => {
            const match = /HTTPS_PROXY=http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)
            if (match) resolve(Number(match[1]))
          })
          child.on("exit", (code) => reject(new Error(`exited ${code} before listening: ${stdout}${stderr}`)))
        })
        assert.match(stdout, new RegExp(`tunnels, unread: the providers' other hosts and 127\\.0\\.0\\.1:${echo.port}`))
        const tunnelled = await connectThrough(port, `127.0.0.1:${echo.port}`, {
          early: "early ",
          send: "through",
          until: "early through"
        })
        assert.equal(bodyOf(tunnelled), "early through")
        const before = sentinel.connections()
        for (let attempt = 0; attempt < 2; attempt++) {
          const refused = await connectThrough(port, `127.0.0.1:${sentinel.port}`, { early: "AUTH hunter2\r\n" })
          assert.equal(refused.status, 403, refused.text)
          assert.match(bodyOf(refused), /127\.0\.0\.1 is a loopback address; proxy\.allow_hosts/)
        }
        assert.equal(sentinel.connections(), before, "nothing reached the local port")
        const refusals = stderr.split("\n").filter((line) => line.includes("refused CONNECT"))
        assert.equal(refusals.length, 1, stderr)
        assert.match(refusals[0]!, new RegExp(`refused CONNECT to 127\\.0\\.0\\.1:${sentinel.port}`))
      } finally {
        child.kill("SIGTERM")
        await exited
        user.cleanup()
      }
    })
  }

  it("refuses to start when proxy.allow_hosts holds something that is not a host", { timeout: 60_000 }, async () => {
    const { run } = await import("../cli/run.ts")
    const user = userEnv({ ISARTOR__CACHE_MODE: "exact", ISARTOR__PROXY__ALLOW_HOSTS: "redis.internal,http://x.test" })
    try {
      const result = await run(["proxy", "--port", "0"], user.env)
      assert.notEqual(result.code, 0)
      assert.match(
        result.stderr,
        /proxy\.allow_hosts \(ISARTOR__PROXY__ALLOW_HOSTS\) takes host or host:port entries, not: http:\/\/x\.test/
      )
    } finally {
      user.cleanup()
    }
  })
})
