/**
 * Reading a Server-Sent Events response as the API's clients do: blocks separated by a blank
 * line, each with an `event:` name and its `data:` lines joined.
 *
 * @example
 * ```ts
 * const res = await fetch(`${api}/alerts/stream`);
 * for await (const ev of sseEvents(res)) if (ev.event === "alert") break;
 * ```
 * @module
 */

/** One event of the stream. */
export interface SseEvent {
  event: string;
  data: string;
}

/** The response's events as they arrive; the body is cancelled when the loop stops. */
export async function* sseEvents(res: Response): AsyncGenerator<SseEvent> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = { event: "", data: "" };
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) ev.event = line.slice(7);
          else if (line.startsWith("data: ")) ev.data += line.slice(6);
        }
        yield ev;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}
