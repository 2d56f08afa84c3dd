/**
 * How data buffers (send/recv payloads, `evt.buffer`, `evt.arg.data`) print: printable ASCII with
 * a dot for every other byte (as Falco prints them), or base64 with Falco's
 * `buffer_format_base64`, which keeps binary payloads whole in alerts.
 *
 * @example
 * ```ts
 * import { bufferText, setBufferFormatBase64 } from "./buffer_format.ts";
 * bufferText(new Uint8Array([104, 105, 0])); // "hi."
 * setBufferFormatBase64(true);
 * bufferText(new Uint8Array([104, 105, 0])); // "aGkA"
 * ```
 * @module
 */

let base64 = false;

/** Sets the format (config `buffer_format_base64`); call before rules are built. */
export function setBufferFormatBase64(on: boolean): void {
  base64 = on;
}

/** A data buffer as text in the current format. */
export function bufferText(b: Uint8Array): string {
  if (base64) {
    let bin = "";
    for (let i = 0; i < b.length; i++) bin += String.fromCharCode(b[i]);
    return btoa(bin);
  }
  let s = "";
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    s += c >= 32 && c < 127 ? String.fromCharCode(c) : ".";
  }
  return s;
}
