// Rewrites the configuration table in docs/configuration.md from core/config/ConfigSpec.ts (the Config test checks they agree):
// node --import tsx test/support/configTable.ts
import { readFileSync, writeFileSync } from "node:fs"
import { configLeaves, envVarName } from "../../core/config/ConfigSpec.ts"

const rows = ["| key | env var | default | meaning |", "|---|---|---|---|"]
for (const [path, leaf] of configLeaves()) {
  const fallback = leaf.defaultText === "(empty)" ? "(empty)" : `\`${leaf.defaultText}\``
  rows.push(`| \`${path.join(".")}\` | \`${envVarName(path)}\` | ${fallback} | ${leaf.meaning} Form: ${leaf.form}. |`)
}
const readme = readFileSync(new URL("../../docs/configuration.md", import.meta.url), "utf8")
const start = readme.indexOf("| key | env var |")
const end = readme.indexOf("\n\n", start)
writeFileSync(
  new URL("../../docs/configuration.md", import.meta.url),
  readme.slice(0, start) + rows.join("\n") + readme.slice(end)
)
