import type { GatewayTarget } from "./gateway.ts"

/** The provider id the connectors add to a tool that picks its model as `provider/model`. */
export const PROVIDER_ID = "isartor"

/**
 * The model a tool goes on using through the gateway: the one it has selected (`anthropic/claude-sonnet-4-5` →
 * `claude-sonnet-4-5`, kept when it is ours already), else the gateway's default model.
 */
export const modelOf = (selected: unknown, gateway: GatewayTarget) => {
  if (typeof selected !== "string" || selected.trim() === "") return gateway.model
  const slash = selected.indexOf("/")
  return slash > 0 ? selected.slice(slash + 1) : selected
}
