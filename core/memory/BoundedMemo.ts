/**
 * A memo of bounded size, forgotten wholesale when full: a key forgotten only takes the longer way once more, and
 * nothing is spent on recency bookkeeping on the paths that read it on every request. `weightOf` bounds what the
 * entries hold together (a key heavier than `maxWeight` is not kept at all).
 */
export class BoundedMemo<K, V> {
  private readonly entries = new Map<K, V>()
  private weight = 0

  constructor(
    private readonly maxEntries: number,
    private readonly maxWeight = Number.POSITIVE_INFINITY,
    private readonly weightOf: (key: K) => number = () => 0
  ) {}

  get(key: K): V | undefined {
    return this.entries.get(key)
  }

  /** Keeps `value` under `key`, forgetting everything first when a new key would not fit; returns `value`. */
  set(key: K, value: V): V {
    const weight = this.weightOf(key)
    if (weight > this.maxWeight) return value
    if (!this.entries.has(key)) {
      if (this.entries.size >= this.maxEntries || this.weight + weight > this.maxWeight) {
        this.entries.clear()
        this.weight = 0
      }
      this.weight += weight
    }
    this.entries.set(key, value)
    return value
  }

  delete(key: K): boolean {
    if (!this.entries.has(key)) return false
    this.weight -= this.weightOf(key)
    return this.entries.delete(key)
  }
}
