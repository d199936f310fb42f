import forge from "node-forge"
import { generateKeyPairSync, randomBytes } from "node:crypto"
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import { rootCertificates } from "node:tls"
import { writeAtomically } from "../connect/files.ts"

const { asn1, pki } = forge

/** The local CA: its certificate (shared with clients) and key (owner only, never leaves ISARTOR_HOME). */
export interface Authority {
  readonly certPem: string
  readonly keyPem: string
  /** The CA certificate, for NODE_EXTRA_CA_CERTS. */
  readonly certFile: string
  /** The system roots plus the CA, for SSL_CERT_FILE / REQUESTS_CA_BUNDLE (which replace the roots, not add). */
  readonly bundleFile: string
  /** The names it may vouch for (its name constraints), and their subdomains; undefined: any name. */
  readonly hosts: ReadonlyArray<string> | undefined
}

/** The permitted dNSName subtrees of a certificate's NameConstraints; undefined when it has none. */
export const permittedHosts = (certPem: string): ReadonlyArray<string> | undefined => {
  const extension = (pki.certificateFromPem(certPem).extensions as Array<{ id: string; value: string }>)
    .find((candidate) => candidate.id === "2.5.29.30")
  if (extension === undefined) return undefined
  const subtrees = asn1.fromDer(extension.value).value as Array<forge.asn1.Asn1>
  const permitted = subtrees.find((node) => node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === 0)
  return ((permitted?.value ?? []) as Array<forge.asn1.Asn1>).flatMap((subtree) => {
    const base = (subtree.value as Array<forge.asn1.Asn1>)[0]
    return base !== undefined && base.type === 2 && typeof base.value === "string" ? [base.value] : []
  })
}

export const caDir = (state: string) => join(state, "proxy")

const rsaKey = () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 })
  return {
    privateKey: pki.privateKeyFromPem(privateKey.export({ type: "pkcs1", format: "pem" }).toString()),
    publicKey: pki.publicKeyFromPem(publicKey.export({ type: "spki", format: "pem" }).toString())
  }
}

const serial = () => {
  const bytes = randomBytes(16)
  bytes[0]! &= 0x7f // positive
  return bytes.toString("hex")
}

/** NameConstraints with permitted dNSName subtrees: the CA can vouch for these hosts (and their subdomains) only. */
const nameConstraints = (hosts: ReadonlyArray<string>) => ({
  id: "2.5.29.30",
  critical: true,
  value: asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(
      asn1.Class.CONTEXT_SPECIFIC,
      0,
      true,
      hosts.map((host) =>
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
          asn1.create(asn1.Class.CONTEXT_SPECIFIC, 2, false, host)
        ])
      )
    )
  ])
})

const createAuthority = (hosts: ReadonlyArray<string>) => {
  const keys = rsaKey()
  const cert = pki.createCertificate()
  cert.publicKey = keys.publicKey
  cert.serialNumber = serial()
  cert.validity.notBefore = new Date(Date.now() - 60_000)
  cert.validity.notAfter = new Date(Date.now() + 2 * 365 * 24 * 3600_000)
  const subject = [
    { name: "commonName", value: `Isartor local proxy CA (${hostname()})` },
    { name: "organizationName", value: "Isartor (this machine only)" }
  ]
  cert.setSubject(subject)
  cert.setIssuer(subject)
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
    nameConstraints(hosts)
  ])
  cert.sign(keys.privateKey, forge.md.sha256.create())
  return { certPem: pki.certificateToPem(cert), keyPem: pki.privateKeyToPem(keys.privateKey) }
}

/**
 * The proxy's CA, made on first use in `<state>/proxy/`: `ca-key.pem` mode 0600 in a 0700 directory, `ca.pem`,
 * and `ca-bundle.pem` (the system roots plus the CA). Name-constrained to `hosts` when made; `rotate` makes a new one.
 */
export const loadAuthority = (state: string, hosts: ReadonlyArray<string>, rotate = false): Authority => {
  const dir = caDir(state)
  const certFile = join(dir, "ca.pem")
  const keyFile = join(dir, "ca-key.pem")
  const bundleFile = join(dir, "ca-bundle.pem")
  if (rotate) { for (const file of [certFile, keyFile, bundleFile]) rmSync(file, { force: true }) }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  if (!existsSync(certFile) || !existsSync(keyFile)) {
    const made = createAuthority(hosts)
    writeAtomically(keyFile, made.keyPem, 0o600)
    writeAtomically(certFile, made.certPem, 0o644)
    writeAtomically(bundleFile, [...rootCertificates, made.certPem].join("\n"), 0o644)
  }
  chmodSync(keyFile, 0o600)
  const certPem = readFileSync(certFile, "utf8")
  return { certPem, keyPem: readFileSync(keyFile, "utf8"), certFile, bundleFile, hosts: permittedHosts(certPem) }
}

export interface Leaf {
  readonly cert: string
  readonly key: string
}

/** Mints server certificates for intercepted hosts: one key for all, one certificate per host, kept in memory. */
export const leafMinter = (authority: Authority) => {
  const caCert = pki.certificateFromPem(authority.certPem)
  const caKey = pki.privateKeyFromPem(authority.keyPem)
  const keys = rsaKey()
  const keyPem = pki.privateKeyToPem(keys.privateKey)
  const minted = new Map<string, Leaf>()
  return (host: string): Leaf => {
    const known = minted.get(host)
    if (known) return known
    const cert = pki.createCertificate()
    cert.publicKey = keys.publicKey
    cert.serialNumber = serial()
    cert.validity.notBefore = new Date(Date.now() - 60_000)
    cert.validity.notAfter = new Date(Date.now() + 30 * 24 * 3600_000)
    cert.setSubject([{ name: "commonName", value: host }])
    cert.setIssuer(caCert.subject.attributes)
    cert.setExtensions([
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [{ type: 2, value: host }] }
    ])
    cert.sign(caKey, forge.md.sha256.create())
    const leaf = { cert: pki.certificateToPem(cert), key: keyPem }
    minted.set(host, leaf)
    return leaf
  }
}
