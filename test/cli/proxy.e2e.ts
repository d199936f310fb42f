import { Effect } from "effect"
import assert from "node:assert/strict"
import { execFile } from "node:child_process"
import { X509Certificate } from "node:crypto"
import { mkdtempSync, rmSync, statSync } from "node:fs"
import { request as httpRequest } from "node:http"
import { createServer as createHttpsServer, request as httpsRequest } from "node:https"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { after, before, describe, it } from "node:test"
import { connect as tlsConnect, createSecureContext, type DetailedPeerCertificate, type TLSSocket } from "node:tls"
import { fetch as undiciFetch, ProxyAgent } from "undici"
import { type Authority, leafMinter, loadAuthority } from "../../cli/proxy/ca.ts"
import { type RunningProxy, startProxy } from "../../cli/proxy/server.ts"
import { eventually } from "../support/eventually.ts"
import { installed } from "../support/installed.ts"

// The local CONNECT proxy on loopback with real TLS: a fake "Copilot" HTTPS server with its own test CA, reached
// through the proxy by real clients (Node's https over a CONNECT tunnel, and curl where installed).

const dir = mkdtempSync(join(tmpdir(), "isartor-proxy-"))
const HOSTS = ["copilot.test", "anthropic.test", "gemini.test"]
let proxyCa: Authority
let upstreamCa: Authority
let upstream: {
  port: number
  seen: Array<
    { host: string; method: string; path: string; auth?: string; apiKey?: string; integration?: string; body: Buffer }
  >
  close: () => void
}
const COMPLETION = {
  id: "chatcmpl-fake",
  object: "chat.completion",
  created: 1_700_000_000,
  model: "gpt-4o",
  choices: [{ index: 0, message: { role: "assistant", content: "Paris." }, finish_reason: "stop" }],
  usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 }
}
const EXPIRED = "{\"error\":{\"message\":\"token expired\",\"code\":\"token_expired\"}}"
let proxy: RunningProxy

/** Anthropic's and Gemini's wire formats (Code Assist's too: Gemini's, wrapped), as their APIs answer: "Paris.". */
/** The fake's endless stream: when it started, and when its connection closed (the proxy cancelled it). */
const slowStream = (() => {
  let started = () => {}
  let closed = () => {}
  return {
    started: () => started(),
    closed: () => closed(),
    whenStarted: new Promise<void>((resolve) => (started = resolve)),
    whenClosed: new Promise<void>((resolve) => (closed = resolve))
  }
})()

const RATE_LIMITED = "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}"

const speaksAnotherApi = (
  url: string,
  body: Buffer,
  response: import("node:http").ServerResponse,
  apiKey?: string
): boolean => {
  const path = url.split("?")[0]!
  if (path === "/v1/messages" && apiKey === "sk-ant-slow") {
    // A stream that starts and then waits: what a long answer looks like when the tool gives up on it.
    response.writeHead(200, { "content-type": "text/event-stream" })
    response.write(
      `event: message_start\ndata: ${
        JSON.stringify({
          type: "message_start",
          message: { id: "msg_slow", type: "message", role: "assistant", model: "claude-sonnet-4-5", content: [] }
        })
      }\n\n`
    )
    slowStream.started()
    response.on("close", () => slowStream.closed())
    return true
  }
  if (path === "/v1/messages" && apiKey === "sk-ant-limited") {
    response.writeHead(429, { "content-type": "application/json", "retry-after": "7" })
    response.end(RATE_LIMITED)
    return true
  }
  if (path === "/v1/messages") {
    const streamed = JSON.parse(body.toString()).stream === true
    const message = {
      id: "msg_fake",
      type: "message",
      role: "assistant",
      model: "claude-sonnet-4-5",
      content: [] as Array<unknown>,
      stop_reason: null as string | null,
      stop_sequence: null,
      usage: { input_tokens: 9, output_tokens: 1 }
    }
    if (!streamed) {
      response.writeHead(200, { "content-type": "application/json", "request-id": "req_fake" })
      response.end(JSON.stringify({
        ...message,
        content: [{ type: "text", text: "Paris." }],
        stop_reason: "end_turn",
        usage: { input_tokens: 9, output_tokens: 2 }
      }))
      return true
    }
    response.writeHead(200, { "content-type": "text/event-stream" })
    const event = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`
    response.write(event("message_start", { message }))
    response.write(event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }))
    response.write(event("ping", {}))
    response.write(event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "Par" } }))
    response.write(event("content_block_delta", { index: 0, delta: { type: "text_delta", text: "is." } }))
    response.write(event("content_block_stop", { index: 0 }))
    response.write(
      event("message_delta", { delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 2 } })
    )
    response.end(event("message_stop", {}))
    return true
  }
  const gemini = /^\/v1beta\/models\/[^/:]+:(generateContent|streamGenerateContent)$/.exec(path)
  const cloudCode = /^\/v1internal:(generateContent|streamGenerateContent)$/.exec(path)
  const method = gemini?.[1] ?? cloudCode?.[1]
  if (method === undefined) return false
  const wrap = (answer: object) => (cloudCode ? { response: answer, traceId: "trace-fake" } : answer)
  const candidate = (text: string, finish?: string) => ({
    content: { role: "model", parts: [{ text }] },
    ...(finish ? { finishReason: finish } : {}),
    index: 0
  })
  const usageMetadata = { promptTokenCount: 5, candidatesTokenCount: 2, totalTokenCount: 7 }
  if (method === "generateContent") {
    response.writeHead(200, { "content-type": "application/json; charset=UTF-8" })
    response.end(JSON.stringify(wrap({
      candidates: [candidate("Paris.", "STOP")],
      usageMetadata,
      modelVersion: "gemini-2.5-flash",
      responseId: "resp-fake"
    })))
    return true
  }
  // streamGenerateContent?alt=sse: one GenerateContentResponse per event, the last with the finish reason.
  response.writeHead(200, { "content-type": "text/event-stream" })
  response.write(
    `data: ${JSON.stringify(wrap({ candidates: [candidate("Par")], modelVersion: "gemini-2.5-flash" }))}\r\n\r\n`
  )
  response.end(
    `data: ${
      JSON.stringify(wrap({ candidates: [candidate("is.", "STOP")], usageMetadata, modelVersion: "gemini-2.5-flash" }))
    }\r\n\r\n`
  )
  return true
}
const ANSWER = Buffer.from("{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\"}]}\n\u00e9\u0000 raw bytes")

before(async () => {
  proxyCa = loadAuthority(join(dir, "state"), HOSTS)
  // The original hosts' own CA, unrelated to the proxy's, constrained to the names the fake serves.
  upstreamCa = loadAuthority(join(dir, "upstream"), [...HOSTS, "other.test"])
  const mint = leafMinter(upstreamCa)
  const seen: typeof upstream.seen = []
  const server = createHttpsServer({
    SNICallback: (name, done) => done(null, createSecureContext(mint(name))),
    ...mint("copilot.test")
  }, (request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      seen.push({
        host: (request.socket as TLSSocket).servername || "",
        method: request.method!,
        path: request.url!,
        ...(request.headers.authorization ? { auth: request.headers.authorization } : {}),
        ...(request.headers["x-api-key"] || request.headers["x-goog-api-key"]
          ? { apiKey: String(request.headers["x-api-key"] ?? request.headers["x-goog-api-key"]) }
          : {}),
        ...(request.headers["copilot-integration-id"]
          ? { integration: String(request.headers["copilot-integration-id"]) }
          : {}),
        body: Buffer.concat(chunks)
      })
      const apiKey = request.headers["x-api-key"] as string | undefined
      if (speaksAnotherApi(request.url!, Buffer.concat(chunks), response, apiKey)) return
      if (request.url === "/chat/completions" && request.headers.authorization === "Bearer ghu_expired") {
        response.writeHead(401, { "content-type": "application/json" })
        response.end(EXPIRED)
        return
      }
      if (request.url === "/chat/completions" && JSON.parse(Buffer.concat(chunks).toString()).stream === true) {
        // Copilot streams: OpenAI's SSE chunks, a finish reason, then [DONE].
        response.writeHead(200, { "content-type": "text/event-stream" })
        const chunk = (delta: object, finish: string | null) =>
          `data: ${
            JSON.stringify({
              id: "chatcmpl-fake",
              object: "chat.completion.chunk",
              created: 1_700_000_000,
              model: "gpt-4o",
              choices: [{ index: 0, delta, finish_reason: finish }]
            })
          }\n\n`
        response.write(chunk({ role: "assistant", content: "Par" }, null))
        response.write(chunk({ content: "is." }, null))
        response.end(chunk({}, "stop") + "data: [DONE]\n\n")
        return
      }
      if (request.url === "/chat/completions") {
        response.writeHead(200, { "content-type": "application/json" })
        response.end(JSON.stringify(COMPLETION))
        return
      }
      response.writeHead(200, { "content-type": "application/json", "x-fake": "copilot" })
      response.end(request.method === "POST" ? Buffer.concat(chunks) : ANSWER)
    })
  })
  // A WebSocket-style upgrade: 101, then every byte echoed back in upper case.
  server.on("upgrade", (request, socket) => {
    seen.push({
      host: (socket as TLSSocket).servername || "",
      method: "UPGRADE",
      path: request.url!,
      body: Buffer.alloc(0)
    })
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    socket.on("data", (chunk: Buffer) => socket.write(chunk.toString().toUpperCase()))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  upstream = { port: (server.address() as AddressInfo).port, seen, close: () => server.close() }
  proxy = await startProxy({
    port: 0,
    authority: proxyCa,
    intercept: HOSTS,
    upstreamCa: upstreamCa.certPem,
    resolve: () => ({ host: "127.0.0.1", port: upstream.port }),
    // The fake answers on loopback for every name: listed, as a user lists an inside host.
    allowHosts: [...HOSTS, "other.test", `127.0.0.1:${upstream.port}`]
  })
})
after(async () => {
  await proxy.close()
  upstream.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Answer {
  readonly status: number
  readonly headers: Record<string, unknown>
  readonly body: Buffer
  /** SHA-256 fingerprint of the certificate that issued the one the client was shown. */
  readonly issuer: string
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256

/** An HTTPS request through the proxy, as an HTTPS_PROXY-aware client makes it: CONNECT, then TLS to the host. */
const viaProxy = (
  proxyPort: number,
  host: string,
  ca: string,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: Buffer } = {}
) =>
  new Promise<Answer>((resolve, reject) => {
    const connect = httpRequest({ host: "127.0.0.1", port: proxyPort, method: "CONNECT", path: `${host}:443` })
    connect.on("connect", (response, socket) => {
      if (response.statusCode !== 200) return reject(new Error(`CONNECT: ${response.statusCode}`))
      const secure = tlsConnect({ socket, servername: host, ca })
      secure.on("error", reject)
      const request = httpsRequest({
        host,
        method: options.method ?? "GET",
        path: options.path ?? "/",
        headers: options.headers,
        createConnection: () => secure
      }, (answer) => {
        const chunks: Array<Buffer> = []
        answer.on("data", (chunk: Buffer) => chunks.push(chunk))
        answer.on("end", () => {
          const issuer = (secure.getPeerCertificate(true) as DetailedPeerCertificate).issuerCertificate.fingerprint256
          resolve({ status: answer.statusCode!, headers: answer.headers, body: Buffer.concat(chunks), issuer })
          secure.end()
        })
      })
      request.on("error", reject)
      request.end(options.body)
    })
    connect.on("error", reject)
    connect.end()
  })

/**
 * A GET to the fake host through a proxy on `port`, the raw HTTP answer: 127.0.0.1:<fake's port> is in its
 * allow_hosts and not a host it reads, so it is tunnelled unread, and the client checks the fake's own certificate.
 */
const tunnelledGet = (port: number, path: string) =>
  new Promise<Buffer>((resolve, reject) => {
    const connect = httpRequest({ host: "127.0.0.1", port, method: "CONNECT", path: `127.0.0.1:${upstream.port}` })
    connect.on("connect", (_response, socket) => {
      const secure = tlsConnect({ socket, servername: "other.test", ca: upstreamCa.certPem }, () => {
        secure.write(`GET ${path} HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n`)
      })
      const chunks: Array<Buffer> = []
      secure.on("data", (chunk: Buffer) => chunks.push(chunk))
      secure.on("end", () => resolve(Buffer.concat(chunks)))
      secure.on("error", reject)
    })
    connect.on("error", reject)
    connect.end()
  })

describe("isartor proxy", () => {
  it("keeps the CA key to its owner, and the CA vouches for the listed hosts only", async () => {
    assert.equal(statSync(join(dir, "state", "proxy", "ca-key.pem")).mode & 0o777, 0o600)
    assert.equal(statSync(join(dir, "state", "proxy")).mode & 0o777, 0o700)
    // A certificate the CA signed for a host outside its name constraints is refused by a TLS client.
    const leaf = leafMinter(proxyCa)("not-listed.test")
    const server = createHttpsServer({ ...leaf }, (_request, response) => response.end("no"))
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    try {
      const refused = await new Promise<string>((resolve) => {
        const socket = tlsConnect({
          host: "127.0.0.1",
          port: (server.address() as AddressInfo).port,
          servername: "not-listed.test",
          ca: proxyCa.certPem
        }, () => resolve("accepted"))
        socket.on("error", (error) => resolve(error.message))
      })
      assert.match(refused, /permitted subtree violation/)
    } finally {
      server.close()
    }
  })

  it("terminates TLS for a listed host with its own CA and passes requests on with the client's credentials, bytes unchanged", async () => {
    const before = upstream.seen.length
    const answer = await viaProxy(proxy.port, "copilot.test", proxyCa.certPem, {
      path: "/models?x=1",
      headers: { authorization: "Bearer ghu_user_token" }
    })
    assert.equal(answer.status, 200)
    assert.equal(answer.issuer, fingerprint(proxyCa.certPem), "the client was shown the proxy's certificate")
    assert.equal(answer.headers["x-fake"], "copilot")
    assert.deepEqual(answer.body, ANSWER)
    const seen = upstream.seen.slice(before)
    assert.deepEqual(seen.map(({ host, method, path, auth }) => ({ host, method, path, auth })), [
      { host: "copilot.test", method: "GET", path: "/models?x=1", auth: "Bearer ghu_user_token" }
    ])

    const body = Buffer.from(JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "hi" }] }))
    const posted = await viaProxy(proxy.port, "copilot.test", proxyCa.certPem, {
      method: "POST",
      path: "/copilot_internal/telemetry",
      headers: { authorization: "Bearer ghu_user_token", "content-type": "application/json" },
      body
    })
    assert.deepEqual(posted.body, body)
    assert.deepEqual(upstream.seen.at(-1)!.body, body)
  })

  it("carries an upgrade (a WebSocket) on a listed host through to the host, both ways", async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const connect = httpRequest({ host: "127.0.0.1", port: proxy.port, method: "CONNECT", path: "copilot.test:443" })
      connect.on("connect", (_response, socket) => {
        const secure = tlsConnect({ socket, servername: "copilot.test", ca: proxyCa.certPem }, () => {
          secure.write(
            "GET /realtime HTTP/1.1\r\nHost: copilot.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
          )
        })
        let received = ""
        secure.on("data", (chunk: Buffer) => {
          received += chunk.toString()
          if (received.includes("\r\n\r\n") && !received.includes("ping")) secure.write("ping")
          if (received.includes("PING")) {
            secure.destroy()
            resolve(received)
          }
        })
        secure.on("error", reject)
        secure.on("close", () => reject(new Error(`closed before the echo: ${received}`)))
      })
      connect.on("error", reject)
      connect.end()
    })
    assert.match(echoed, /^HTTP\/1\.1 101 /)
    assert.match(echoed, /PING$/)
    assert.deepEqual(upstream.seen.at(-1)!.path, "/realtime")
  })

  it("tunnels a host it does not read (one in allow_hosts) unread: the client sees the host's own certificate", async () => {
    const answer = await viaProxy(proxy.port, "other.test", upstreamCa.certPem, { path: "/anything" })
    assert.equal(answer.status, 200)
    assert.equal(answer.issuer, fingerprint(upstreamCa.certPem), "the client was shown the host's own certificate")
    assert.deepEqual(answer.body, ANSWER)
    assert.equal(upstream.seen.at(-1)!.host, "other.test")
  })

  it("tunnels, unread, a listed host its CA cannot vouch for (a CA made before the host joined the list)", async () => {
    assert.deepEqual(proxyCa.hosts, HOSTS, "the CA says which names it may vouch for")
    const older = loadAuthority(join(dir, "older"), ["copilot.test"])
    const proxyOfOlderCa = await startProxy({
      port: 0,
      authority: older,
      intercept: HOSTS,
      upstreamCa: upstreamCa.certPem,
      resolve: () => ({ host: "127.0.0.1", port: upstream.port }),
      allowHosts: HOSTS
    })
    try {
      const answer = await viaProxy(proxyOfOlderCa.port, "anthropic.test", upstreamCa.certPem, { path: "/v1/models" })
      assert.equal(answer.status, 200)
      assert.equal(answer.issuer, fingerprint(upstreamCa.certPem), "the client saw the host's own certificate")
      const read = await viaProxy(proxyOfOlderCa.port, "copilot.test", older.certPem, { path: "/models" })
      assert.equal(read.issuer, fingerprint(older.certPem), "a name it covers is still read")
    } finally {
      await proxyOfOlderCa.close()
    }
  })

  it("refuses an original host whose certificate it cannot verify (502), and sends it nothing", async () => {
    const strict = await startProxy({
      port: 0,
      authority: proxyCa,
      intercept: HOSTS,
      upstreamCa: proxyCa.certPem, // not the CA that signed the fake's certificate
      resolve: () => ({ host: "127.0.0.1", port: upstream.port }),
      allowHosts: HOSTS
    })
    try {
      const before = upstream.seen.length
      const answer = await viaProxy(strict.port, "copilot.test", proxyCa.certPem, {
        headers: { authorization: "Bearer ghu_user_token" }
      })
      assert.equal(answer.status, 502)
      assert.match(answer.body.toString(), /certificate/)
      assert.equal(upstream.seen.length, before, "no request reached the host")
    } finally {
      await strict.close()
    }
  })

  it("works for curl with --proxy and --cacert", async (t) => {
    const curl = await new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve) => {
      execFile(
        "curl",
        [
          "-sS",
          "--proxy",
          proxy.url,
          "--cacert",
          proxyCa.certFile,
          "-H",
          "Authorization: Bearer curl-token",
          "https://copilot.test/models"
        ],
        { encoding: "buffer", env: { PATH: process.env.PATH ?? "" } },
        (error, stdout, stderr) =>
          resolve({
            code: error ? (typeof error.code === "number" ? error.code : -1) : 0,
            stdout,
            stderr: stderr.toString()
          })
      )
    })
    if (!installed(t, !(curl.code === -1 && /ENOENT/.test(curl.stderr + "")), "curl", "apt-get install -y curl")) return
    assert.equal(curl.code, 0, curl.stderr)
    assert.deepEqual(curl.stdout, ANSWER)
    assert.equal(upstream.seen.at(-1)!.auth, "Bearer curl-token")
  })
})

describe("the isartor proxy command", () => {
  it("serves on the port it prints, tunnels a host in allow_hosts, stops on SIGTERM, and --rotate-ca makes a new CA", async () => {
    const { spawn } = await import("node:child_process")
    const { projectRoot } = await import("../support/processes.ts")
    const { userEnv } = await import("./run.ts")
    const user = userEnv({ ISARTOR__CACHE_MODE: "exact", ISARTOR__PROXY__ALLOW_HOSTS: `127.0.0.1:${upstream.port}` })
    const start = (...args: Array<string>) => {
      const child = spawn(process.execPath, [join(projectRoot, "bin/isartor"), "proxy", "--port", "0", ...args], {
        env: user.env,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let stdout = ""
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
      const port = new Promise<number>((resolve, reject) => {
        child.stdout.on("data", () => {
          const match = /HTTPS_PROXY=http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)
          if (match) resolve(Number(match[1]))
        })
        child.on("exit", (code) => reject(new Error(`exited ${code} before listening: ${stdout}`)))
      })
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      return { child, port, exited, output: () => stdout }
    }
    const caFile = join(user.home, "state", "proxy", "ca.pem")
    try {
      const first = start()
      try {
        const port = await first.port
        // 127.0.0.1:<port> is in proxy.allow_hosts: tunnelled to the fake, whose own certificate the client checks.
        const answer = await tunnelledGet(port, "/through-the-command")
        assert.match(answer.toString("latin1"), /^HTTP\/1\.1 200 /)
        assert.ok(answer.includes(ANSWER), "the fake's bytes came through the tunnel")
        assert.equal(upstream.seen.at(-1)!.path, "/through-the-command")
        assert.match(first.output(), new RegExp(`NODE_EXTRA_CA_CERTS=${caFile.replace(/[.]/g, "\\.")}`))
        assert.equal(statSync(join(user.home, "state", "proxy", "ca-key.pem")).mode & 0o777, 0o600)
      } finally {
        first.child.kill("SIGTERM")
      }
      assert.equal(await first.exited, 0, "SIGTERM stops it cleanly")
      const { readFileSync } = await import("node:fs")
      const before = fingerprint(readFileSync(caFile, "utf8"))
      const second = start("--rotate-ca")
      try {
        await second.port
        assert.notEqual(fingerprint(readFileSync(caFile, "utf8")), before)
      } finally {
        second.child.kill("SIGTERM")
      }
      assert.equal(await second.exited, 0)
    } finally {
      user.cleanup()
    }
  })
})

describe("chat requests through the pipeline", () => {
  it("a second identical chat request is answered by L1a without reaching the host; another credential is another scope", async () => {
    const { startProxyGateway } = await import("../../cli/proxy/gateway.ts")
    const gateway = await startProxyGateway({ env: {}, upstreamCa: upstreamCa.certPem })
    const cached = await startProxy({
      port: 0,
      authority: proxyCa,
      intercept: HOSTS,
      upstreamCa: upstreamCa.certPem,
      resolve: () => ({ host: "127.0.0.1", port: upstream.port }),
      allowHosts: HOSTS,
      gateway
    })
    try {
      const body = Buffer.from(
        JSON.stringify({ model: "gpt-4o", messages: [{ role: "user", content: "Capital of France?" }] })
      )
      const ask = (token: string) =>
        viaProxy(cached.port, "copilot.test", proxyCa.certPem, {
          method: "POST",
          path: "/chat/completions",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "copilot-integration-id": "vscode-chat"
          },
          body
        })
      const calls = () => upstream.seen.filter((seen) => seen.path === "/chat/completions")
      const before = calls().length

      const first = await ask("ghu_account_a")
      assert.equal(first.status, 200, first.body.toString())
      assert.equal(first.headers["x-isartor-layer"], "l3")
      assert.equal(JSON.parse(first.body.toString()).choices[0].message.content, "Paris.")
      assert.equal(calls().length, before + 1)
      const sent = calls().at(-1)!
      assert.equal(sent.auth, "Bearer ghu_account_a", "the host got the client's own credential")
      assert.equal(sent.integration, "vscode-chat", "and the client's own headers")
      assert.deepEqual(JSON.parse(sent.body.toString()), JSON.parse(body.toString()))

      const second = await ask("ghu_account_a")
      assert.equal(second.status, 200)
      assert.equal(second.headers["x-isartor-layer"], "l1a")
      assert.equal(JSON.parse(second.body.toString()).choices[0].message.content, "Paris.")
      assert.equal(calls().length, before + 1, "answered without reaching the host")

      // A shape the gateway refuses (its own 400) is the host's to judge: sent on as it was, answered by the host.
      const odd = Buffer.from("{\"model\":\"gpt-4o\",\"messages\":\"not a list\"}")
      const passed = await viaProxy(cached.port, "copilot.test", proxyCa.certPem, {
        method: "POST",
        path: "/chat/completions",
        headers: { authorization: "Bearer ghu_account_a", "content-type": "application/json" },
        body: odd
      })
      assert.equal(passed.status, 200)
      assert.equal(passed.headers["x-isartor-layer"], undefined)
      assert.deepEqual(calls().at(-1)!.body, odd, "the host got the client's bytes")
      assert.equal(calls().length, before + 2)

      // The host's own refusal reaches the tool as it was sent (Copilot refreshes its token on a 401).
      const expired = await ask("ghu_expired")
      assert.equal(expired.status, 401)
      assert.equal(expired.body.toString(), EXPIRED)

      const other = await ask("ghu_account_b")
      assert.equal(other.headers["x-isartor-layer"], "l3", "another account never gets account A's answer")
      assert.equal(calls().length, before + 4)
      assert.equal(calls().at(-1)!.auth, "Bearer ghu_account_b")
    } finally {
      await cached.close()
      await gateway.close()
    }
  })
})

describe("the usage ledger of the proxy's gateway", () => {
  it("records a chat request through the proxy like any other: the host as its provider, the layer that answered", async () => {
    const { startProxyGateway } = await import("../../cli/proxy/gateway.ts")
    const gateway = await startProxyGateway({ env: {}, upstreamCa: upstreamCa.certPem })
    const proxied = await startProxy({
      port: 0,
      authority: proxyCa,
      intercept: HOSTS,
      upstreamCa: upstreamCa.certPem,
      resolve: () => ({ host: "127.0.0.1", port: upstream.port }),
      allowHosts: HOSTS,
      gateway
    })
    try {
      const body = { model: "gpt-4o", messages: [{ role: "user", content: "Capital of France, for the ledger?" }] }
      for (let round = 0; round < 2; round++) {
        const answer = await post(proxied.port, "copilot.test", "/chat/completions", {
          authorization: "Bearer ghu_ledger"
        }, body)
        assert.equal(answer.status, 200, answer.body.toString())
      }
      const rows = await eventually(async () => {
        const recent = await Effect.runPromise(gateway.gateway.usage.recent(10))
        return recent.length === 2 ? recent : undefined
      }, { what: "two rows in the ledger" })
      const rounds = [...rows].sort((a, b) => a.at - b.at)
      assert.deepEqual(rounds.map((row) => row.layer), ["l3", "l1a"])
      assert.equal(rounds[0]!.provider, "copilot.test")
      assert.equal(rounds[0]!.model_asked, "gpt-4o")
      assert.equal(rounds[0]!.tokens_in, COMPLETION.usage.prompt_tokens)
      assert.ok(rows.every((row) => row.status === 200))
      assert.doesNotMatch(JSON.stringify(rows), /ghu_ledger/, "the client's credential is never in the ledger")
    } finally {
      await proxied.close()
      await gateway.close()
    }
  })
})

describe("streamed chat requests through the pipeline", () => {
  it("a streamed answer comes through as SSE and its replay is an L1a hit, for Node and for curl", async (t) => {
    const { startProxyGateway } = await import("../../cli/proxy/gateway.ts")
    const gateway = await startProxyGateway({ env: {}, upstreamCa: upstreamCa.certPem })
    const cached = await startProxy({
      port: 0,
      authority: proxyCa,
      intercept: HOSTS,
      upstreamCa: upstreamCa.certPem,
      resolve: () => ({ host: "127.0.0.1", port: upstream.port }),
      allowHosts: HOSTS,
      gateway
    })
    try {
      const body = JSON.stringify({ model: "gpt-4o", stream: true, messages: [{ role: "user", content: "Stream it" }] })
      const headers = { authorization: "Bearer ghu_streamer", "content-type": "application/json" }
      const calls = () => upstream.seen.filter((seen) => seen.path === "/chat/completions").length
      const before = calls()
      const text = (sse: string) =>
        sse.split("\n").filter((line) => line.startsWith("data: {")).map((line) =>
          JSON.parse(line.slice(6)).choices[0]?.delta?.content ?? ""
        ).join("")

      const first = await viaProxy(cached.port, "copilot.test", proxyCa.certPem, {
        method: "POST",
        path: "/chat/completions",
        headers,
        body: Buffer.from(body)
      })
      assert.equal(first.status, 200)
      assert.match(String(first.headers["content-type"]), /text\/event-stream/)
      assert.equal(first.headers["x-isartor-layer"], "l3")
      assert.equal(text(first.body.toString()), "Paris.")
      assert.match(first.body.toString(), /data: \[DONE\]/)
      assert.equal(calls(), before + 1)

      const curl = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          "curl",
          [
            "-sS",
            "-i",
            "--proxy",
            cached.url,
            "--cacert",
            proxyCa.certFile,
            "-H",
            "Authorization: Bearer ghu_streamer",
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
            "https://copilot.test/chat/completions"
          ],
          { env: { PATH: process.env.PATH ?? "" } },
          (error, stdout, stderr) =>
            resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr })
        )
      })
      if (!installed(t, !(curl.code === -1 && /ENOENT/.test(curl.stderr)), "curl", "apt-get install -y curl")) return
      assert.equal(curl.code, 0, curl.stderr)
      assert.match(curl.stdout, /^x-isartor-layer: l1a\r?$/im)
      assert.equal(text(curl.stdout), "Paris.")
      assert.equal(calls(), before + 1, "the replay never reached the host")
    } finally {
      await cached.close()
      await gateway.close()
    }
  })
})

/** A proxy whose chat requests go through a gateway of its own (fresh caches), for one test. */
const withPipeline = async (test: (port: number) => Promise<void>, env: Record<string, string> = {}) => {
  const { startProxyGateway } = await import("../../cli/proxy/gateway.ts")
  const gateway = await startProxyGateway({ env, upstreamCa: upstreamCa.certPem })
  const cached = await startProxy({
    port: 0,
    authority: proxyCa,
    intercept: HOSTS,
    upstreamCa: upstreamCa.certPem,
    resolve: () => ({ host: "127.0.0.1", port: upstream.port }),
    allowHosts: HOSTS,
    gateway
  })
  try {
    await test(cached.port)
  } finally {
    await cached.close()
    await gateway.close()
  }
}

const post = (port: number, host: string, path: string, headers: Record<string, string>, body: object | string) =>
  viaProxy(port, host, proxyCa.certPem, {
    method: "POST",
    path,
    headers: { "content-type": "application/json", ...headers },
    body: Buffer.from(typeof body === "string" ? body : JSON.stringify(body))
  })

/** The data of each SSE event, parsed. */
const events = (sse: Buffer) =>
  sse.toString().split(/\r?\n/).filter((line) => line.startsWith("data: ")).map((line) =>
    JSON.parse(line.slice(6)) as Record<string, any>
  )

const hostCalls = (path: string) => upstream.seen.filter((seen) => seen.path.split("?")[0] === path).length

describe("undici's ProxyAgent (what HTTPS_PROXY-aware Node clients use) with the generated CA", () => {
  it("gets the host's answer through the proxy, and the second identical chat request from L1a", async () => {
    await withPipeline(async (port) => {
      const agent = new ProxyAgent({ uri: `http://127.0.0.1:${port}`, requestTls: { ca: proxyCa.certPem } })
      try {
        const ask = () =>
          undiciFetch("https://copilot.test/chat/completions", {
            method: "POST",
            dispatcher: agent,
            headers: { authorization: "Bearer ghu_undici", "content-type": "application/json" },
            body: JSON.stringify({
              model: "gpt-4o",
              messages: [{ role: "user", content: "Capital of France, undici?" }]
            })
          })
        const before = hostCalls("/chat/completions")
        const first = await ask()
        assert.equal(first.status, 200)
        assert.equal(first.headers.get("x-isartor-layer"), "l3")
        assert.equal(((await first.json()) as typeof COMPLETION).choices[0]!.message.content, "Paris.")
        assert.equal(upstream.seen.at(-1)!.auth, "Bearer ghu_undici", "the host got the client's own credential")
        const second = await ask()
        assert.equal(second.headers.get("x-isartor-layer"), "l1a")
        assert.equal(((await second.json()) as typeof COMPLETION).choices[0]!.message.content, "Paris.")
        assert.equal(hostCalls("/chat/completions"), before + 1, "the host was asked once")
      } finally {
        await agent.close()
      }
    })
  })

  it("refuses the proxy's certificate without the CA: nothing is trusted by default", async () => {
    await withPipeline(async (port) => {
      const agent = new ProxyAgent({ uri: `http://127.0.0.1:${port}` })
      try {
        await assert.rejects(
          undiciFetch("https://copilot.test/chat/completions", { method: "POST", dispatcher: agent, body: "{}" })
        )
      } finally {
        await agent.close()
      }
    })
  })
})

describe("a chat request larger than the gateway takes", () => {
  it("goes to the host as it came, not through the caches", async () => {
    await withPipeline(async (port) => {
      const body = JSON.stringify({
        model: "gpt-4o",
        messages: [{ role: "user", content: `A long question: ${"x".repeat(2000)}` }]
      })
      for (let round = 0; round < 2; round++) {
        const answer = await post(port, "copilot.test", "/chat/completions", { authorization: "Bearer ghu_big" }, body)
        assert.equal(answer.status, 200)
        assert.equal(answer.headers["x-isartor-layer"], undefined, "not the pipeline's answer")
        assert.equal(upstream.seen.at(-1)!.body.toString(), body, "the host got the client's bytes")
      }
    }, { ISARTOR__MAX_BODY_BYTES: "1024" })
  })
})

describe("Anthropic Messages through the pipeline", () => {
  it("a second identical request is an L1a hit in Anthropic's format; the miss went to the host with the client's key and bytes", async () => {
    await withPipeline(async (port) => {
      const body = JSON.stringify({
        model: "claude-sonnet-4-5",
        max_tokens: 64,
        messages: [{ role: "user", content: "Capital of France?" }]
      })
      const headers = { "x-api-key": "sk-ant-api03-account-a", "anthropic-version": "2023-06-01" }
      const before = hostCalls("/v1/messages")

      const first = await post(port, "anthropic.test", "/v1/messages", headers, body)
      assert.equal(first.status, 200, first.body.toString())
      assert.equal(first.headers["x-isartor-layer"], "l3")
      const message = JSON.parse(first.body.toString())
      assert.equal(message.type, "message")
      assert.deepEqual(message.content, [{ type: "text", text: "Paris." }])
      assert.equal(hostCalls("/v1/messages"), before + 1)
      const sent = upstream.seen.at(-1)!
      assert.equal(sent.host, "anthropic.test")
      assert.equal(sent.apiKey, "sk-ant-api03-account-a", "the host got the client's own key")
      assert.equal(sent.body.toString(), body, "and the client's own bytes")

      const second = await post(port, "anthropic.test", "/v1/messages", headers, body)
      assert.equal(second.status, 200)
      assert.equal(second.headers["x-isartor-layer"], "l1a")
      assert.deepEqual(JSON.parse(second.body.toString()).content, [{ type: "text", text: "Paris." }])
      assert.equal(hostCalls("/v1/messages"), before + 1, "answered without reaching the host")

      const other = await post(port, "anthropic.test", "/v1/messages", { ...headers, "x-api-key": "sk-ant-b" }, body)
      assert.equal(other.headers["x-isartor-layer"], "l3", "another key is another cache scope")

      // The host's 429 reaches the tool as sent, Retry-After included, after one call: no retries of the gateway's.
      const callsBefore = hostCalls("/v1/messages")
      const limited = await post(
        port,
        "anthropic.test",
        "/v1/messages",
        { ...headers, "x-api-key": "sk-ant-limited" },
        body
      )
      assert.equal(limited.status, 429)
      assert.equal(limited.headers["retry-after"], "7")
      assert.equal(limited.body.toString(), RATE_LIMITED)
      assert.equal(hostCalls("/v1/messages"), callsBefore + 1)
    })
  })

  it("a streamed miss comes through as Anthropic's SSE, and its replay is an L1a hit in the same events", async () => {
    await withPipeline(async (port) => {
      const body = {
        model: "claude-sonnet-4-5",
        max_tokens: 64,
        stream: true,
        messages: [{ role: "user", content: "Stream the capital of France" }]
      }
      const headers = { "x-api-key": "sk-ant-api03-streamer", "anthropic-version": "2023-06-01" }
      const text = (sse: Buffer) =>
        events(sse).filter((event) => event.type === "content_block_delta").map((event) => event.delta.text).join("")
      const before = hostCalls("/v1/messages")

      const first = await post(port, "anthropic.test", "/v1/messages", headers, body)
      assert.equal(first.status, 200)
      assert.match(String(first.headers["content-type"]), /text\/event-stream/)
      assert.equal(first.headers["x-isartor-layer"], "l3")
      assert.equal(text(first.body), "Paris.")
      assert.equal(events(first.body).at(-1)!.type, "message_stop")
      assert.equal(hostCalls("/v1/messages"), before + 1)

      const replay = await post(port, "anthropic.test", "/v1/messages", headers, body)
      assert.equal(replay.headers["x-isartor-layer"], "l1a")
      assert.match(String(replay.headers["content-type"]), /text\/event-stream/)
      assert.deepEqual(events(replay.body).map((event) => event.type).filter((type) => type !== "ping"), [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop"
      ])
      assert.equal(text(replay.body), "Paris.")
      assert.equal(hostCalls("/v1/messages"), before + 1, "the replay never reached the host")
    })
  })
})

describe("Gemini (Antigravity) through the pipeline", () => {
  const model = "/v1beta/models/gemini-2.5-flash"
  const question = (text: string) => ({ contents: [{ role: "user", parts: [{ text }] }] })
  const geminiText = (answer: Record<string, any>) =>
    (answer.candidates ?? []).map((candidate: any) =>
      (candidate.content?.parts ?? []).map((part: any) => part.text ?? "").join("")
    ).join("")

  it("generateContent: the second identical request is an L1a hit in Gemini's format; the miss went to the host with the client's key", async () => {
    await withPipeline(async (port) => {
      const body = JSON.stringify(question("Capital of France?"))
      const headers = { "x-goog-api-key": "AIza-account-a" }
      const path = `${model}:generateContent`
      const before = hostCalls(path)

      const first = await post(port, "gemini.test", path, headers, body)
      assert.equal(first.status, 200, first.body.toString())
      assert.equal(first.headers["x-isartor-layer"], "l3")
      const answer = JSON.parse(first.body.toString())
      assert.equal(geminiText(answer), "Paris.")
      assert.equal(answer.candidates[0].finishReason, "STOP")
      assert.equal(upstream.seen.at(-1)!.apiKey, "AIza-account-a")
      assert.equal(upstream.seen.at(-1)!.body.toString(), body)

      const second = await post(port, "gemini.test", path, headers, body)
      assert.equal(second.headers["x-isartor-layer"], "l1a")
      assert.equal(geminiText(JSON.parse(second.body.toString())), "Paris.")
      assert.equal(hostCalls(path), before + 1, "answered without reaching the host")

      // With tools the caches cannot tell answers apart by text alone: the host answers, and nothing is cached.
      const tools = {
        ...question("Capital of France?"),
        tools: [{ functionDeclarations: [{ name: "lookup", parameters: { type: "object" } }] }]
      }
      for (let round = 0; round < 2; round++) {
        const passed = await post(port, "gemini.test", path, headers, tools)
        assert.equal(passed.status, 200)
        assert.equal(passed.headers["x-isartor-layer"], undefined)
      }
      assert.equal(hostCalls(path), before + 3)
    })
  })

  it("streamGenerateContent?alt=sse: a streamed miss comes through as Gemini SSE, and its replay is an L1a hit", async () => {
    await withPipeline(async (port) => {
      const body = question("Stream the capital of France")
      const headers = { "x-goog-api-key": "AIza-streamer" }
      const path = `${model}:streamGenerateContent`
      const before = hostCalls(path)

      const first = await post(port, "gemini.test", `${path}?alt=sse`, headers, body)
      assert.equal(first.status, 200, first.body.toString())
      assert.match(String(first.headers["content-type"]), /text\/event-stream/)
      assert.equal(first.headers["x-isartor-layer"], "l3")
      assert.equal(events(first.body).map(geminiText).join(""), "Paris.")
      const finishes = events(first.body).flatMap((event) =>
        (event.candidates ?? []).map((candidate: any) => candidate.finishReason ?? null)
      )
      assert.equal(finishes.at(-1), "STOP", "the last candidate event says the answer is whole")
      assert.equal(finishes.filter((finish) => finish !== null).length, 1)
      assert.equal(events(first.body).find((event) => event.usageMetadata)?.usageMetadata.totalTokenCount, 7)
      assert.equal(hostCalls(path), before + 1)

      const replay = await post(port, "gemini.test", `${path}?alt=sse`, headers, body)
      assert.equal(replay.headers["x-isartor-layer"], "l1a")
      assert.match(String(replay.headers["content-type"]), /text\/event-stream/)
      assert.equal(events(replay.body).map(geminiText).join(""), "Paris.")
      assert.equal(hostCalls(path), before + 1, "the replay never reached the host")
    })
  })

  it("Code Assist's v1internal:streamGenerateContent (wrapped Gemini): the miss goes to the host with the client's token, and the same question of another prompt id is an L1a hit", async () => {
    await withPipeline(async (port) => {
      const path = "/v1internal:streamGenerateContent"
      // As gemini-cli sends it: a prompt id beside the request, a session id in it.
      const ask = (promptId: string, project = "project-fake") =>
        post(port, "gemini.test", `${path}?alt=sse`, { authorization: "Bearer ya29.oauth-token" }, {
          model: "gemini-2.5-pro",
          project,
          user_prompt_id: promptId,
          request: { ...question("Capital of France?"), session_id: `session-of-${promptId}` }
        })
      const before = hostCalls(path)
      const first = await ask("prompt-1")
      assert.equal(first.status, 200, first.body.toString())
      assert.equal(first.headers["x-isartor-layer"], "l3")
      assert.equal(events(first.body).map((event) => geminiText(event.response)).join(""), "Paris.")
      assert.equal(upstream.seen.at(-1)!.auth, "Bearer ya29.oauth-token")

      const second = await ask("prompt-2")
      assert.equal(second.headers["x-isartor-layer"], "l1a")
      assert.equal(events(second.body).map((event) => geminiText(event.response)).join(""), "Paris.")
      assert.equal(hostCalls(path), before + 1)
      const otherProject = await ask("prompt-3", "another-project")
      assert.equal(otherProject.headers["x-isartor-layer"], "l3", "the project is part of what is asked")
    })
  })
})

describe("isartor up with a proxy tool connected", () => {
  it("starts the proxy beside the gateway only when Copilot is connected; status shows it, stop stops both", async () => {
    const { run, userEnv, alive } = await import("./run.ts")
    const { createServer: createTcpServer } = await import("node:net")
    const { existsSync } = await import("node:fs")
    const free = createTcpServer()
    await new Promise<void>((resolve) => free.listen(0, "127.0.0.1", resolve))
    const proxyPort = (free.address() as AddressInfo).port
    await new Promise((resolve) => free.close(resolve))
    const user = userEnv({
      ISARTOR__CACHE_MODE: "exact",
      ISARTOR__PROXY__PORT: String(proxyPort),
      ISARTOR__PROXY__ALLOW_HOSTS: `127.0.0.1:${upstream.port}`,
      // `stop` waits out the drain (5 s by default) before the gateway exits, twice here; the drain has its own
      // tests (command.e2e.ts, runtimes.e2e.ts), this one is about the proxy beside the gateway.
      ISARTOR__SHUTDOWN_DRAIN_SECS: "0"
    })
    const state = user.env.ISARTOR_HOME!
    const pids: Array<number> = []
    const gatewayPid = (stdout: string) => {
      const pid = Number(/running at http:\S+ \(pid (\d+)\)/.exec(stdout)?.[1])
      pids.push(pid)
      return pid
    }
    try {
      // Nothing connected: the gateway alone.
      const alone = await run(["up", "--detach", "--port", "0"], user.env)
      assert.equal(alone.code, 0, alone.stderr + alone.stdout)
      gatewayPid(alone.stdout)
      assert.doesNotMatch(alone.stdout, /Proxy:/)
      assert.equal(existsSync(join(state, "proxy.pid")), false)
      const quiet = JSON.parse((await run(["status", "--json"], user.env)).stdout)
      assert.deepEqual(quiet.proxy, { running: false, url: `http://127.0.0.1:${proxyPort}`, tools: [] })
      assert.equal((await run(["stop"], user.env)).code, 0)

      const connected = await run(["connect", "copilot"], user.env)
      assert.equal(connected.code, 0, connected.stderr)
      const notYet = await run(["status"], user.env)
      assert.match(
        notYet.stdout,
        /proxy +not running, but copilot goes through http:\/\/127\.0\.0\.1:\d+: isartor up starts it/
      )

      const both = await run(["up", "--detach", "--port", "0"], user.env)
      assert.equal(both.code, 0, both.stderr + both.stdout)
      const gateway = gatewayPid(both.stdout)
      const proxyLine = /Proxy: http:\/\/127\.0\.0\.1:(\d+) \(pid (\d+)\) for copilot/.exec(both.stdout)
      assert.ok(proxyLine, both.stdout + both.stderr)
      assert.equal(Number(proxyLine[1]), proxyPort)
      const proxyPid = Number(proxyLine[2])
      pids.push(proxyPid)
      // It is the proxy: 127.0.0.1:<port> is in allow_hosts, so it tunnels to the fake, whose own certificate the client checks.
      const tunnelled = await tunnelledGet(proxyPort, "/through-up")
      assert.ok(tunnelled.includes(ANSWER), "the fake's bytes came through the proxy up started")
      assert.equal(upstream.seen.at(-1)!.path, "/through-up")

      const status = JSON.parse((await run(["status", "--json"], user.env)).stdout)
      assert.deepEqual(status.proxy, {
        running: true,
        pid: proxyPid,
        url: `http://127.0.0.1:${proxyPort}`,
        tools: ["copilot"]
      })
      assert.match(
        (await run(["status"], user.env)).stdout,
        /proxy +running at http:\/\/127\.0\.0\.1:\d+ \(pid \d+\) for copilot/
      )

      const stopped = await run(["stop"], user.env)
      assert.equal(stopped.code, 0, stopped.stderr)
      assert.match(stopped.stdout, new RegExp(`isartor stopped \\(pid ${gateway}\\)`))
      await eventually(() => !alive(proxyPid), { what: `the proxy (pid ${proxyPid}) to stop with the gateway` })
      assert.equal(alive(gateway), false)
      assert.equal(existsSync(join(state, "proxy.pid")), false)
    } finally {
      for (const pid of pids) if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL")
      user.cleanup()
    }
  })
})

describe("a chat request through the pipeline to a host whose certificate does not verify", () => {
  it("is refused with a 502 in the client's format that names the certificate and never the client's key; the host gets nothing", async () => {
    const { startProxyGateway } = await import("../../cli/proxy/gateway.ts")
    const gateway = await startProxyGateway({ env: {}, upstreamCa: proxyCa.certPem }) // not the fake's CA
    const strict = await startProxy({
      port: 0,
      authority: proxyCa,
      intercept: HOSTS,
      upstreamCa: proxyCa.certPem,
      resolve: () => ({ host: "127.0.0.1", port: upstream.port }),
      allowHosts: HOSTS,
      gateway
    })
    try {
      const before = upstream.seen.length
      const key = "AIzaSyDoNotLeakThisKey0123456789"
      const gemini = await post(
        strict.port,
        "gemini.test",
        `/v1beta/models/gemini-2.5-flash:generateContent?key=${key}`,
        {},
        { contents: [{ role: "user", parts: [{ text: "Capital of France?" }] }] }
      )
      assert.equal(gemini.status, 502)
      const error = JSON.parse(gemini.body.toString()).error
      assert.equal(error.code, 502)
      assert.match(error.message, /certificate/)
      assert.doesNotMatch(gemini.body.toString(), /DoNotLeak/)
      const anthropic = await post(
        strict.port,
        "anthropic.test",
        "/v1/messages",
        { "x-api-key": "sk-ant-secret-key" },
        {
          model: "claude-sonnet-4-5",
          max_tokens: 8,
          messages: [{ role: "user", content: "hi" }]
        }
      )
      assert.equal(anthropic.status, 502)
      assert.equal(JSON.parse(anthropic.body.toString()).type, "error", "Anthropic's error shape")
      assert.doesNotMatch(anthropic.body.toString(), /sk-ant-secret-key/)
      assert.equal(upstream.seen.length, before, "no request reached the host")
    } finally {
      await strict.close()
      await gateway.close()
    }
  })
})

describe("a tool that leaves in the middle of a streamed answer", () => {
  it("makes the proxy close its stream from the host at once, instead of reading the answer to its end", {
    timeout: 30_000
  }, async () => {
    await withPipeline(async (port) => {
      const connect = httpRequest({ host: "127.0.0.1", port, method: "CONNECT", path: "anthropic.test:443" })
      const socket = await new Promise<import("node:net").Socket>((resolve, reject) => {
        connect.on("connect", (_response, raw) => resolve(raw))
        connect.on("error", reject)
        connect.end()
      })
      const secure = tlsConnect({ socket, servername: "anthropic.test", ca: proxyCa.certPem })
      const body = JSON.stringify({
        model: "claude-sonnet-4-5",
        max_tokens: 64,
        stream: true,
        messages: [{ role: "user", content: "A long answer, please" }]
      })
      secure.write(
        `POST /v1/messages HTTP/1.1\r\nHost: anthropic.test\r\nx-api-key: sk-ant-slow\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
      )
      let received = ""
      await new Promise<void>((resolve) =>
        secure.on("data", (chunk: Buffer) => {
          received += chunk.toString()
          if (received.includes("message_start")) resolve()
        })
      )
      await slowStream.whenStarted
      assert.match(received, /^HTTP\/1\.1 200 /)
      secure.destroy()
      // Without the cancellation reaching the host, this never settles and the test times out.
      await slowStream.whenClosed
    })
  })
})
