// No container engine runs here: these tests check what can be checked without one — the files parse, every
// variable and path they name exists in the code, the settings they give load without a warning, and the image runs
// the binary CI builds and smoke-tests.
import { Effect } from "effect"
import assert from "node:assert/strict"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, it } from "node:test"
import { parseAllDocuments } from "yaml"
import { CONFIG_FILE_VAR, loadConfig } from "../../core/config/Config.ts"
import { configLeaves, envVarName } from "../../core/config/ConfigSpec.ts"
import { projectRoot } from "../support/processes.ts"

const read = (path: string) => readFileSync(join(projectRoot, path), "utf8")
const k8sDir = "deploy/kubernetes"
const k8sFiles = readdirSync(join(projectRoot, k8sDir)).filter((name) => name.endsWith(".yaml"))

type Manifest = {
  kind: string
  metadata: { name: string; labels?: Record<string, string> }
  data?: Record<string, string>
  stringData?: Record<string, string>
  spec?: any
}

const parseYaml = (path: string): Array<unknown> => {
  const documents = parseAllDocuments(read(path))
  const list = Array.isArray(documents) ? documents : [documents]
  for (const document of list) assert.deepEqual(document.errors, [], `${path}: ${document.errors.join("; ")}`)
  return list.map((document) => document.toJS() as unknown)
}
const manifests = k8sFiles.filter((name) => name !== "kustomization.yaml").flatMap((name) =>
  parseYaml(`${k8sDir}/${name}`) as Array<Manifest>
)
const byKind = (kind: string) => manifests.filter((manifest) => manifest.kind === kind)
const compose = parseYaml("docker-compose.yml")[0] as {
  services: Record<string, { environment?: Array<string>; healthcheck?: { test: Array<string> } }>
}
const dockerfile = read("Dockerfile")

const configVars = new Set([...configLeaves().map(([path]) => envVarName(path)), CONFIG_FILE_VAR])
/** Variables read outside the configuration, by the command and the runtimes. */
const runtimeVars: Record<string, string> = {
  ISARTOR_HOME: "runtimes/home.ts",
  HF_HOME: "runtimes/embedding/transformers.ts",
  // Read by compose itself: the image tag the compose files pull.
  ISARTOR_VERSION: "docs/deployment.md"
}

const variablesIn = (text: string) => [...new Set(text.match(/\b(ISARTOR_[A-Z0-9_]*[A-Z0-9]|HF_HOME)\b/g) ?? [])]
const loads = async (env: Record<string, string>) =>
  Effect.runPromise(loadConfig({ env, readTextFile: async () => undefined }))

const composeEnv = () =>
  Object.fromEntries(
    (compose.services.isartor?.environment ?? []).map((entry) => {
      const [name, ...value] = entry.split("=")
      // ${VAR:-default} takes its default, as compose does with the variable unset.
      return [name!, value.join("=").replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, "$1")]
    })
  )

describe("container and cluster files", () => {
  it("name only variables the gateway or the command reads", () => {
    const files = ["Dockerfile", "docker-compose.yml", ...k8sFiles.map((name) => `${k8sDir}/${name}`)]
    for (const file of files) {
      for (const name of variablesIn(read(file))) {
        if (configVars.has(name)) continue
        const reader = runtimeVars[name]
        assert.ok(reader, `${file} names ${name}, which nothing reads`)
        assert.match(read(reader), new RegExp(`\\b${name}\\b`), `${reader} reads ${name}`)
      }
    }
  })

  it("give settings that load without a warning: the compose file's and the ConfigMap's with the Secret's", async () => {
    const fromCompose = await loads(composeEnv())
    assert.deepEqual(fromCompose.warnings.filter((warning) => !/no API key/.test(warning)), [])
    assert.equal(fromCompose.config.cache_backend, "redis")
    assert.equal(fromCompose.config.redis_url, "redis://redis:6379")
    const configMap = byKind("ConfigMap")[0]!
    const secret = byKind("Secret")[0]!
    const fromCluster = await loads({ ...configMap.data, ...secret.stringData })
    assert.deepEqual(fromCluster.warnings, [])
    assert.equal(fromCluster.config.host_port, "0.0.0.0:8080")
  })

  it("check health the way the guide shows, on routes the gateway serves", () => {
    const guide = ["curl", "-f", "http://localhost:8080/healthz"]
    assert.deepEqual(compose.services.isartor?.healthcheck?.test, ["CMD", ...guide])
    assert.match(dockerfile, /HEALTHCHECK .*CMD \["curl", "-f", "http:\/\/localhost:8080\/healthz"\]/)
    const container = byKind("Deployment")[0]!.spec.template.spec.containers[0]
    assert.equal(container.readinessProbe.httpGet.path, "/health")
    assert.equal(container.livenessProbe.httpGet.path, "/healthz")
    const app = read("core/http/app.ts")
    assert.match(app, /app\.get\("\/healthz"/)
    assert.match(app, /app\.get\("\/health"/)
  })

  it("the image runs the binary CI builds and smoke-tests, in the foreground, as a non-root user", () => {
    // The build stage makes dist/isartor-linux-<arch> with the package script; the final stage's entrypoint is it.
    const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts
    assert.ok(scripts["build:binary"])
    assert.match(dockerfile, /npm run --silent build:binary -- --target "\$target"/)
    assert.match(dockerfile, /cp "dist\/isartor-\$target" \/isartor/)
    assert.match(read("test/cli/binary.e2e.ts"), /join\(projectRoot, "dist", `isartor-\$\{target\}`\)/)
    assert.match(dockerfile, /COPY --from=build \/isartor \/usr\/local\/bin\/isartor/)
    assert.match(dockerfile, /ENTRYPOINT \["\/usr\/local\/bin\/isartor"\]\nCMD \["up"\]/)
    assert.match(dockerfile, /^USER isartor$/m)
    for (const source of dockerfile.matchAll(/^COPY (?!--from)(.+) \.\/$/gm)) {
      for (const path of source[1]!.split(" ")) assert.ok(existsSync(join(projectRoot, path)), `COPY ${path}`)
    }
    assert.match(read(".ci/run"), /build:binary/)
  })

  it("hold together as Kubernetes objects: names, selectors and the kustomization's list", () => {
    const kustomization = parseYaml(`${k8sDir}/kustomization.yaml`)[0] as { resources: Array<string> }
    assert.deepEqual(
      [...kustomization.resources].sort(),
      k8sFiles.filter((name) => name !== "kustomization.yaml").sort()
    )
    const deployment = byKind("Deployment")[0]!
    const pod = deployment.spec.template
    assert.deepEqual(deployment.spec.selector.matchLabels, pod.metadata.labels)
    const service = byKind("Service")[0]!
    for (const [key, value] of Object.entries(service.spec.selector)) assert.equal(pod.metadata.labels[key], value)
    const hpa = byKind("HorizontalPodAutoscaler")[0]!
    assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name)
    const container = pod.spec.containers[0]
    const sources = container.envFrom as Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>
    assert.equal(
      sources.find((source) => source.configMapRef)?.configMapRef?.name,
      byKind("ConfigMap")[0]!.metadata.name
    )
    assert.equal(sources.find((source) => source.secretRef)?.secretRef?.name, byKind("Secret")[0]!.metadata.name)
    assert.equal(
      container.ports[0].containerPort,
      Number(byKind("ConfigMap")[0]!.data!.ISARTOR__HOST_PORT!.split(":")[1])
    )
    // Redis comes from its chart, referenced rather than re-written here.
    assert.equal(manifests.some((manifest) => /redis/i.test(manifest.metadata.name)), false)
    assert.match(read(`${k8sDir}/README.md`), /helm install isartor-redis/)
  })

  it("the release workflow publishes every target the build makes, with the checksums isartor update reads", () => {
    const workflow = parseYaml(".github/workflows/release.yml")[0] as {
      on: { push: { tags: Array<string> } }
      jobs: { release: { steps: Array<{ run?: string }> } }
    }
    assert.deepEqual(workflow.on.push.tags, ["v*"])
    const script = workflow.jobs.release.steps.map((step) => step.run ?? "").join("\n")
    const targets = /target: \{ type: "string", default: "([^"]+)" \}/.exec(read("cli/build.ts"))![1]!.split(",")
    assert.match(script, new RegExp(`build:binary -- --target ${targets.join(",")}`))
    for (const target of targets) {
      assert.match(script, new RegExp(`isartor-${target}${target.startsWith("windows") ? "\\.exe" : ""}\\b`))
    }
    assert.match(script, /SHA256SUMS$/m)
    assert.match(read("cli/update.ts"), /\$\{base\}\/SHA256SUMS/)
  })
})
