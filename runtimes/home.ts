import { homedir, platform } from "node:os"
import { join } from "node:path"

/**
 * Where Isartor keeps its state — a detached gateway's pid file and log, the usage ledger: ISARTOR_HOME, else
 * $XDG_STATE_HOME/isartor, else ~/.local/state/isartor (%LOCALAPPDATA%\isartor on Windows).
 */
export const isartorHome = (env: Record<string, string | undefined>): string =>
  env.ISARTOR_HOME ||
  (env.XDG_STATE_HOME
    ? join(env.XDG_STATE_HOME, "isartor")
    : platform() === "win32" && env.LOCALAPPDATA
    ? join(env.LOCALAPPDATA, "isartor")
    : join(env.HOME || homedir(), ".local", "state", "isartor"))
