import { Command, CommanderError, InvalidArgumentError, Option } from "commander"
import { USAGE_BY } from "../core/usage/UsageRow.ts"
import { VERSION } from "../core/version.ts"
import { TOOL_SUMMARIES } from "./connect/tools.ts"
import type { CommandHost } from "./host.ts"
import { CliFailure, EXIT_FAILURE, EXIT_USAGE, red } from "./output.ts"

const positiveInt = (what: string, min = 1, max = Number.MAX_SAFE_INTEGER) => (value: string) => {
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidArgumentError(`${what} must be a whole number from ${min} to ${max}`)
  }
  return n
}

/** Runs a subcommand and hands its exit code on. */
type Action = <A extends Array<unknown>>(run: (...args: A) => Promise<number> | number) => (...args: A) => Promise<void>

/** The root command: its description, version, help and error output. */
const rootCommand = () =>
  new Command("isartor")
    .description(
      "Isartor: an LLM deflection gateway (exact cache, semantic cache, small-model router, cloud providers)"
    )
    .version(VERSION, "-v, --version", "print the version")
    .helpOption("-h, --help", "show help for a command")
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      outputError: (text, write) => write(red(text.replace(/^error: /, "isartor: "), process.stderr))
    })
    .addHelpText(
      "after",
      "\nExit codes: 0 ok, 1 failure (status: not running; doctor: a check failed), 2 usage error.\n" +
        "State (pid file, log): $ISARTOR_HOME, else $XDG_STATE_HOME/isartor, else ~/.local/state/isartor."
    )

/** Running the gateway here: up, stop, status, init, doctor, demo, update. */
const gatewayCommands = (root: Command, action: Action, host: CommandHost) => {
  root.command("up")
    .description("start the gateway (foreground; Ctrl-C stops it gracefully)")
    .option("-d, --detach", "run in the background, wait until it answers, print its URL and log")
    .option("-p, --port <port>", "listen on this port (on the configured host)", positiveInt("--port", 0, 65535))
    .option("-c, --config <file>", "configuration file (TOML or JSON), as ISARTOR__CONFIG_FILE")
    .option("--runtime <runtime>", "node, bun or deno (default: the one running this command)")
    .option("--wait <seconds>", "with --detach: how long to wait for /healthz", positiveInt("--wait"), 180)
    .addOption(new Option("--log-file <file>").hideHelp())
    .action(action(async (options) => (await import("./up.ts")).up(options, host)))

  root.command("stop")
    .description("stop the background gateway gracefully (in-flight requests finish)")
    .option("--timeout <seconds>", "seconds to wait before SIGKILL", positiveInt("--timeout"), 30)
    .option("--json", "machine-readable output")
    .action(action(async (options) => (await import("./stop.ts")).stop(options)))

  root.command("status")
    .description("is it running, where, since when, each layer's status, the deflection so far (exit 1: not running)")
    .option("--json", "machine-readable output")
    .action(action(async (options) => (await import("./status.ts")).status(options)))

  root.command("init")
    .description("write a commented isartor.toml with every key, its default and its meaning")
    .argument("[file]", "where to write it", "isartor.toml")
    .option("-f, --force", "overwrite an existing file")
    .action(
      action(async (file: string, options: { force?: boolean }) => (await import("./init.ts")).init(file, options))
    )

  root.command("doctor")
    .description("run the troubleshooting guide's checks and print a verdict and a fix for each (exit 1: one failed)")
    .option("-c, --config <file>", "configuration file to check, as ISARTOR__CONFIG_FILE")
    .option("--json", "machine-readable output")
    .action(action(async (options) => (await import("./doctor.ts")).doctor(options, host)))

  root.command("demo")
    .description("replay two sample workloads against an in-process gateway and fake provider (no key, no network)")
    .option("--json", "machine-readable output")
    .option("--limit <n>", "replay only the first n prompts of each workload", positiveInt("--limit"))
    .action(action(async (options) => (await import("./demo.ts")).demo(options, host)))

  root.command("update")
    .description("update isartor: the single binary replaces itself (SHA-256 checked); npm installs get the command")
    .option("--check", "only say whether a newer version exists")
    .option("--yes", "for an npm install: run the npm command instead of printing it")
    .option("--binary <file>", "the single binary to replace (default: this one, when it is the single binary)")
    .option("--json", "machine-readable output")
    .action(action(async (options) => (await import("./update.ts")).update(options, host)))
}

/** `isartor cache …`: the admin API's cache routes. */
const cacheCommands = (root: Command, action: Action) => {
  const cache = root.command("cache")
    .description("find, inspect and remove cached answers through the gateway's admin API (needs its admin key)")
    .option("--url <url>", "the gateway (default: the one running here, else $ISARTOR_URL)")
    .option("--admin-key <key>", "the admin key (default: ISARTOR__ADMIN_API_KEY or the configuration's)")
    .option("--json", "machine-readable output")
  const cacheOptions = () => cache.opts<{ url?: string; adminKey?: string; json?: boolean }>()
  const filters = (command: Command) =>
    command.option("--model <model>", "entries of this model")
      .option("--tenant <hash>", "entries of this caller (the tenant hash the entries show)")
      .option(
        "--older-than <seconds>",
        "entries stored more than this many seconds ago",
        positiveInt("--older-than", 0)
      )
      .option("--question-contains <text>", "entries whose question contains this text (any case)")
  filters(cache.command("list").description("list entries of both layers"))
    .action(action(async (options) => (await import("./cache.ts")).list(options, cacheOptions())))
  cache.command("show").description("one entry: layer, caller, model, question, created, expires, hits")
    .argument("<id>", "the entry id, as in X-Isartor-Cache-Key")
    .action(action(async (id: string) => (await import("./cache.ts")).show(id, cacheOptions())))
  cache.command("rm").description("remove an entry, and the same answer's entry in the other layer")
    .argument("<id>", "the entry id, as in X-Isartor-Cache-Key")
    .action(action(async (id: string) => (await import("./cache.ts")).remove(id, cacheOptions())))
  filters(cache.command("purge").description("remove every entry the filters match (at least one filter)"))
    .option("--dry-run", "only count what would be removed")
    .action(action(async (options) => (await import("./cache.ts")).purge(options, cacheOptions())))
  cache.command("flush").description("remove every entry of both layers")
    .action(action(async () => (await import("./cache.ts")).flush(cacheOptions())))
}

/** What the admin API reports: stats, providers, budgets. */
const adminCommands = (root: Command, action: Action) => {
  root.command("stats")
    .description("tokens and cost spent and saved, from the gateway's usage ledger, as a table (needs its admin key)")
    .option("--since <when>", "start: a duration back from now (30m, 24h, 7d) or an ISO 8601 time", "24h")
    .option("--until <when>", "end: a duration back from now or an ISO 8601 time (default: now)")
    .addOption(
      new Option("--by <group>", "one row per group").choices(USAGE_BY).default("model")
    )
    .option("--url <url>", "the gateway (default: the one running here, else $ISARTOR_URL)")
    .option("--admin-key <key>", "the admin key (default: ISARTOR__ADMIN_API_KEY or the configuration's)")
    .option("--json", "the report as JSON")
    .action(action(async (options) => (await import("./stats.ts")).stats(options)))

  root.command("providers")
    .description(
      "each provider's circuit breaker, retry budget and keys (masked) (needs the admin key; exit 1: a breaker is open)"
    )
    .option("--url <url>", "the gateway (default: the one running here, else $ISARTOR_URL)")
    .option("--admin-key <key>", "the admin key (default: ISARTOR__ADMIN_API_KEY or the configuration's)")
    .option("--json", "machine-readable output")
    .action(action(async (options) => (await import("./providers.ts")).providers(options)))

  root.command("budgets")
    .description(
      "each budget's use and limits in its current UTC day and month (needs the admin key; exit 1: one is spent)"
    )
    .option("--url <url>", "the gateway (default: the one running here, else $ISARTOR_URL)")
    .option("--admin-key <key>", "the admin key (default: ISARTOR__ADMIN_API_KEY or the configuration's)")
    .option("--json", "machine-readable output")
    .action(action(async (options) => (await import("./budgets.ts")).budgets(options)))
}

/** Tools pointed at the gateway: connect, proxy, mcp. */
const toolCommands = (root: Command, action: Action, host: CommandHost) => {
  root.command("connect")
    .description("point a coding tool at the gateway by editing its own settings (--disconnect undoes it exactly)")
    .argument("[tool]", "one of the tools below, or status")
    .option("--list", "which tools are connected, read from their own files")
    .option("--disconnect", "undo: put back what was there before")
    .option("--dry-run", "say what would change in the tool's files, and write nothing")
    .option("--project", "claude: this project's .claude/settings.local.json instead of the user settings")
    .option("--shell <shell>", "env, copilot, antigravity: bash, zsh, fish or powershell (default: from $SHELL)")
    .option("--url <url>", "the gateway (default: the one running here, else $ISARTOR_URL, else the configured port)")
    .option("--key <key>", "the gateway key to give the tool (default: the gateway's configured key, if any)")
    .option("--json", "machine-readable output")
    .action(
      action(async (tool: string | undefined, options) => (await import("./connect/connect.ts")).connect(tool, options))
    )
    .addHelpText(
      "after",
      `\nTools:\n${
        Object.entries(TOOL_SUMMARIES).map(([tool, summary]) => `  ${tool.padEnd(15)} ${summary}`).join("\n")
      }`
    )

  root.command("proxy")
    .description("the local CONNECT proxy (127.0.0.1) for tools that cannot change their base URL, with a local CA")
    .option("-p, --port <port>", "listen on this port (default: proxy.port, 8081)", positiveInt("--port", 0, 65535))
    .option("--rotate-ca", "replace the local CA (clients must trust the new one)")
    .action(action(async (options) => (await import("./proxy/proxy.ts")).proxy(options, host)))

  root.command("mcp")
    .description(
      "the gateway's MCP server over stdio, for Claude Desktop and Cursor: look up and store answers, status"
    )
    .option("--url <url>", "the gateway (default: the one running here, else $ISARTOR_URL, else the configured port)")
    .option(
      "--key <key>",
      "the gateway key (default: $ISARTOR_API_KEY, else ISARTOR__GATEWAY_API_KEY or the configuration's)"
    )
    .action(action(async (options) => (await import("./mcp.ts")).mcp(options)))
}

/** The `isartor` command: every subcommand, with --help on each; a subcommand's code loads only when it runs. */
export const program = (host: CommandHost, exit: (code: number) => void) => {
  const root = rootCommand()
  const action: Action = (run) => async (...args) => {
    exit(await run(...args))
  }
  gatewayCommands(root, action, host)
  cacheCommands(root, action)
  adminCommands(root, action)
  toolCommands(root, action, host)
  return root
}

/** Runs the command line; never throws: failures become a message on stderr and an exit code. */
export const main = async (host: CommandHost, argv: ReadonlyArray<string> = process.argv.slice(2)) => {
  let code: number | undefined
  const exit = (value: number) => {
    code = value
  }
  try {
    await program(host, exit).parseAsync([...argv], { from: "user" })
  } catch (error) {
    if (error instanceof CommanderError) {
      // `isartor` alone prints help as an error (exit 2): a script that forgot its subcommand should not pass.
      code = error.exitCode === 0 ? 0 : EXIT_USAGE
    } else if (error instanceof CliFailure) {
      console.error(red(`isartor: ${error.message}`, process.stderr))
      code = error.exitCode
    } else {
      console.error(red(`isartor: ${error instanceof Error ? error.message : String(error)}`, process.stderr))
      code = EXIT_FAILURE
    }
  }
  process.exitCode = code ?? 0
  return code ?? 0
}
