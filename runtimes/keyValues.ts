/** `key=value,key=value` with URL-encoded parts, as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS write it. */
export const parseKeyValues = (text: string | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const pair of (text ?? "").split(",")) {
    const at = pair.indexOf("=")
    if (at <= 0) continue
    const decode = (part: string) => {
      try {
        return decodeURIComponent(part.trim())
      } catch {
        return part.trim()
      }
    }
    out[decode(pair.slice(0, at))] = decode(pair.slice(at + 1))
  }
  return out
}
