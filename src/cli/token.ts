/**
 * `saker token [--file PATH]`: makes a bearer token for the API (`webserver.auth_token`): 32
 * random bytes from the system's generator, base64url (43 characters). Printed on stdout; with
 * `--file`, written to PATH readable by its owner only, unless PATH holds a token already (then
 * that one is printed): run it at every start and the first start makes the token.
 *
 * ```
 * $ export SAKER_API_TOKEN=$(saker token)       # config.yaml: auth_token: "${SAKER_API_TOKEN:-}"
 * $ saker token --file /etc/saker/api-token     # first start writes it, later ones read it
 * ```
 * @module
 */
import { openPrivate } from "../files.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker token [--file PATH]

Prints a new random token for webserver.auth_token (32 random bytes, base64url).

  --file PATH   keep the token in PATH (created 0600); when PATH holds one already, print it`;

/** A new token: 32 random bytes, base64url without padding. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}

/** The token kept in `path`, made and written there (0600) when it holds none. */
export function tokenFile(path: string): string {
  try {
    const kept = Deno.readTextFileSync(path).trim();
    if (kept !== "") return kept;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const token = newToken();
  const file = openPrivate(path, { truncate: true });
  try {
    file.writeSync(new TextEncoder().encode(token + "\n"));
  } finally {
    file.close();
  }
  return token;
}

/** Entry point of the subcommand. */
export function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args,
      options: { file: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (err) {
    console.error(`saker token: ${(err as Error).message}\n\n${USAGE}`);
    return Promise.resolve(2);
  }
  if (parsed.values.help) {
    console.log(USAGE);
    return Promise.resolve(0);
  }
  try {
    console.log(parsed.values.file ? tokenFile(parsed.values.file) : newToken());
    return Promise.resolve(0);
  } catch (err) {
    console.error(`saker token: ${parsed.values.file}: ${(err as Error).message}`);
    return Promise.resolve(1);
  }
}
