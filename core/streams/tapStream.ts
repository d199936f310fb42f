/**
 * What one read of the upstream meant: `"readOn"` when nothing went out yet (read again within the same pull),
 * `"wait"` when something went out (the next read waits for the client's next pull), `"ended"` when the tap closed
 * the client's stream (what the upstream still sends is not read).
 */
export type TapStep = "readOn" | "wait" | "ended"

/**
 * A stream passed on read by read, its handlers written once (module-level) over each stream's own `state`, so a
 * tapped stream costs no closure of its own.
 */
export interface StreamTap<S> {
  /** One read (its `done` included): enqueue what goes out, close the client's stream when it ends. May throw. */
  readonly onRead: (
    state: S,
    result: ReadableStreamReadResult<Uint8Array>,
    controller: ReadableStreamDefaultController<Uint8Array>
  ) => TapStep
  /** A read, or `onRead`, failed: end the client's stream (an error event and `close`, or `controller.error`). */
  readonly onFailure: (state: S, error: unknown, controller: ReadableStreamDefaultController<Uint8Array>) => void
  /** The client went away; the cancel goes on to the upstream after this. */
  readonly onCancel?: (state: S, reason: unknown) => void
  /** Before each pull reads (a timer on the read, say); `stop` cancels the upstream, which ends a pending read. */
  readonly onPull?: (state: S, stop: (reason: Error) => void) => void
}

const ignore = () => undefined

/**
 * `upstream` passed on to the client through `tap`, pulled only as the client reads (a slow client slows the
 * upstream down). The one place that reads an upstream for a client: the client's cancel reaches the upstream, a
 * stream the tap ended stops reading the upstream, and a failure is one `onFailure` (the upstream then let go).
 * The upstream's own refusal to cancel is not the client's concern: it is dropped.
 */
export const tapStream = <S>(
  upstream: ReadableStream<Uint8Array>,
  tap: StreamTap<S>,
  state: S,
  strategy?: QueuingStrategy<Uint8Array>
): ReadableStream<Uint8Array> => {
  const reader = upstream.getReader()
  const stop = tap.onPull === undefined ? undefined : (reason: Error) => void reader.cancel(reason).catch(ignore)
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (stop !== undefined) tap.onPull!(state, stop)
      try {
        for (;;) {
          const result = await reader.read()
          const step = tap.onRead(state, result, controller)
          if (step === "readOn" && !result.done) continue
          if (step === "ended" && !result.done) await reader.cancel().catch(ignore)
          return
        }
      } catch (error) {
        tap.onFailure(state, error, controller)
        // Nothing more is read: a no-op when the read itself failed, the upstream let go when the tap failed.
        await reader.cancel().catch(ignore)
      }
    },
    cancel(reason) {
      tap.onCancel?.(state, reason)
      return reader.cancel(reason).catch(ignore)
    }
  }, strategy)
}
