/** `saker fields` (placeholder until its issue lands). @module */

/** Entry point of the subcommand. */
export function main(_args: string[]): Promise<number> {
  console.error("saker fields: not implemented yet");
  return Promise.resolve(2);
}
