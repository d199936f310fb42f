import { mkdir, writeFile } from "node:fs/promises"

/** Writes a bench's figures as JSON under bench/results/ (not committed) and returns the file's path. */
export const writeResults = async (
  name: string,
  figures: unknown,
  extension = "json",
  text?: string
): Promise<string> => {
  await mkdir(new URL("./results/", import.meta.url), { recursive: true })
  const file = new URL(
    `./results/${name}-${new Date().toISOString().replace(/[:.]/g, "-")}.${extension}`,
    import.meta.url
  )
  await writeFile(file, text ?? JSON.stringify(figures, null, 2))
  console.log(`written ${file.pathname}`)
  return file.pathname
}
