// The release's files, checked without a container engine or GitHub: the workflow builds and pushes the image the
// compose files pull, every step output and path it names exists, and the compose files hold together.
import assert from "node:assert/strict"
import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { describe, it } from "node:test"
import { parse } from "yaml"
import { configLeaves, envVarName } from "../../core/config/ConfigSpec.ts"
import { projectRoot } from "../support/processes.ts"

const read = (path: string) => readFileSync(join(projectRoot, path), "utf8")
const yamlOf = (path: string) => parse(read(path), { merge: true }) as any

interface Step {
  readonly id?: string
  readonly name?: string
  readonly uses?: string
  readonly run?: string
  readonly with?: Record<string, unknown>
  readonly env?: Record<string, string>
}
const workflow = yamlOf(".github/workflows/release.yml") as {
  permissions: Record<string, string>
  jobs: Record<string, { needs?: string; steps: Array<Step> }>
}
const IMAGE = "ghcr.io/isartor-ai/isartor"
const repository = (JSON.parse(read("package.json")) as { repository: { url: string } }).repository.url
const composeFiles = ["docker-compose.yml", "deploy/haproxy/docker-compose.yml"]
const configVars = new Set(configLeaves().map(([path]) => envVarName(path)))

describe("the release workflow", () => {
  it("pushes a multi-arch image of the Dockerfile to ghcr.io/<owner>/isartor, tagged with the version and latest", () => {
    const image = workflow.jobs.image!
    assert.equal(image.needs, "release", "after the binaries are tested and published")
    assert.equal(workflow.permissions.packages, "write")
    const push = image.steps.find((step) => step.uses?.startsWith("docker/build-push-action@"))!
    assert.equal(push.with!.push, true)
    assert.equal(push.with!.platforms, "linux/amd64,linux/arm64")
    assert.ok(existsSync(join(projectRoot, String(push.with!.context), String(push.with!.file))))
    // The Dockerfile builds the binary for the platform buildx asks for.
    assert.match(read("Dockerfile"), /ARG TARGETARCH/)
    const naming = image.steps.find((step) => step.id === "image")!.run!
    assert.match(naming, /name=ghcr\.io\/\$\{GITHUB_REPOSITORY_OWNER,,\}\/isartor/)
    assert.match(naming, /version=\$\{GITHUB_REF_NAME#v\}/)
    assert.deepEqual(String(push.with!.tags).trim().split("\n"), [
      "${{ steps.image.outputs.name }}:${{ steps.image.outputs.version }}",
      "${{ steps.image.outputs.name }}:latest"
    ])
    // For this repository's owner, that is the image the compose files pull.
    assert.match(repository, /github\.com\/isartor-ai\/isartor\.git$/)
  })

  it("names only step outputs its steps write, and actions at a pinned major version", () => {
    for (const [name, job] of Object.entries(workflow.jobs)) {
      const text = JSON.stringify(job)
      for (const [, stepId, output] of text.matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
        const step = job.steps.find((candidate) => candidate.id === stepId)
        assert.ok(step, `${name}: no step with id ${stepId}`)
        assert.match(step.run ?? "", new RegExp(`echo "${output}=.*>> "\\$GITHUB_OUTPUT"`), `${name}: ${stepId}`)
      }
      for (const step of job.steps) if (step.uses) assert.match(step.uses, /^[\w-]+\/[\w-]+@v\d+$/, step.uses)
      if (job.needs) assert.ok(workflow.jobs[job.needs], `${name} needs ${job.needs}`)
    }
  })

  it("publishes the npm package with its token, from the package.json the tag matches", () => {
    const npm = workflow.jobs.npm!
    assert.equal(npm.needs, "release")
    const publish = npm.steps.find((step) => step.run?.startsWith("npm publish"))!
    assert.equal(publish.env!.NODE_AUTH_TOKEN, "${{ secrets.NPM_TOKEN }}")
    assert.equal(workflow.permissions["id-token"], "write", "npm publish --provenance signs with the OIDC token")
    const release = workflow.jobs.release!.steps.map((step) => step.run ?? "").join("\n")
    assert.match(release, /require\("\.\/package\.json"\)\.version/)
    assert.match(release, /\.ci\/run/)
    assert.ok(existsSync(join(projectRoot, ".ci/run")))
    assert.equal((JSON.parse(read("package.json")) as { private?: boolean }).private, undefined)
  })

  it("and install.sh and isartor update download from the releases the workflow publishes", () => {
    assert.match(read("install.sh"), /https:\/\/github\.com\/isartor-ai\/isartor\/releases\}/)
    assert.match(read("cli/update.ts"), /https:\/\/github\.com\/isartor-ai\/isartor\/releases\/download/)
    assert.match(read("install.sh"), /\$releases\/download\/v\$version/)
  })
})

describe("the compose files", () => {
  for (const file of composeFiles) {
    const compose = yamlOf(file) as {
      services: Record<string, {
        image?: string
        build?: string
        environment?: Array<string>
        extra_hosts?: Array<string>
        volumes?: Array<string>
      }>
    }
    const gateways = Object.entries(compose.services).filter(([, service]) => service.image?.startsWith(IMAGE))

    it(`${file}: gateways pull the released image, build from this checkout as the fallback, reach the host`, () => {
      assert.ok(gateways.length > 0)
      for (const [name, service] of gateways) {
        assert.equal(service.image, `${IMAGE}:\${ISARTOR_VERSION:-latest}`, name)
        assert.ok(existsSync(join(projectRoot, dirname(file), service.build!, "Dockerfile")), `${name}: build`)
        assert.deepEqual(service.extra_hosts, ["host.docker.internal:host-gateway"], name)
      }
    })

    it(`${file}: every variable it sets is a setting, and every file it mounts exists`, () => {
      for (const [name, service] of Object.entries(compose.services)) {
        for (const entry of service.environment ?? []) {
          const variable = entry.split("=")[0]!
          const known = configVars.has(variable) || /^ISARTOR_(LB_BIND|LB_STATS_BIND|REPLICA_\d)$/.test(variable)
          assert.ok(known, `${name} sets ${variable}, which nothing reads`)
          if (!configVars.has(variable)) assert.match(read("deploy/haproxy/haproxy.cfg"), new RegExp(variable))
        }
        for (const volume of service.volumes ?? []) {
          const source = volume.split(":")[0]!
          if (source.startsWith(".")) assert.ok(existsSync(join(projectRoot, dirname(file), source)), volume)
        }
      }
    })
  }

  it("the HAProxy compose file points HAProxy at its three gateways", () => {
    const compose = yamlOf("deploy/haproxy/docker-compose.yml")
    const haproxy = compose.services.haproxy as { environment: Array<string> }
    const replicas = haproxy.environment.filter((entry) => entry.startsWith("ISARTOR_REPLICA_"))
    assert.deepEqual(replicas.map((entry) => entry.split("=")[1]), [
      "gateway-1:8080",
      "gateway-2:8080",
      "gateway-3:8080"
    ])
    for (const replica of replicas) assert.ok(compose.services[replica.split("=")[1]!.split(":")[0]!])
  })
})
