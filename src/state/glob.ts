/**
 * Shell-style glob matching (`*`, `?`, `[...]`) as container mount fields use it
 * (`container.mount.dest[/proc*]`). Patterns compile once to a regular expression.
 *
 * @example
 * ```ts
 * import { globMatch } from "./glob.ts";
 * globMatch("/proc*", "/proc/sys"); // true
 * ```
 * @module
 */

const compiled = new Map<string, RegExp>();

function compile(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) re += "\\[";
      else {
        let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
        if (body[0] === "!") body = "^" + body.slice(1);
        re += `[${body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp(re + "$");
}

/** True when `text` matches the glob `pattern` as a whole. */
export function globMatch(pattern: string, text: string): boolean {
  let re = compiled.get(pattern);
  if (!re) {
    re = compile(pattern);
    if (compiled.size < 4096) compiled.set(pattern, re);
  }
  return re.test(text);
}
