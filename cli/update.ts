import type { CommandHost } from "./host.ts"
export const update = async (
  _options: { check?: boolean; yes?: boolean; json?: boolean },
  _host: CommandHost
): Promise<number> => 0
