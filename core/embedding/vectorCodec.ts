/** A float32 vector as base64 (its bytes, little-endian on every platform we run on), for Redis values and source files. */
export const vectorToBase64 = (vector: Float32Array) => {
  const bytes = new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength)
  let binary = ""
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!)
  return btoa(binary)
}

/** The inverse of `vectorToBase64`; throws on text that is not base64. */
export const vectorFromBase64 = (text: string) => {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return new Float32Array(bytes.buffer)
}
