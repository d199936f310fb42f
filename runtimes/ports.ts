import { createServer } from "node:net"

/** Whether a port can be listened on now: tries it, and lets it go at once (node:net, on Node, Bun and Deno). */
export const portIsFree = (hostname: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    if (port === 0) return resolve(true)
    const server = createServer()
    server.once("error", () => resolve(false))
    server.listen({ host: hostname, port, exclusive: true }, () => server.close(() => resolve(true)))
  })

/** The first of the next few ports above a taken one that is free on the same host now: a suggestion that works. */
export const freePortAfter = async (hostname: string, port: number, tries = 20): Promise<number | undefined> => {
  for (let candidate = port + 1; candidate <= Math.min(port + tries, 65535); candidate++) {
    if (await portIsFree(hostname, candidate)) return candidate
  }
  return undefined
}
