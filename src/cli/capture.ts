/** `saker capture` (placeholder until its issue lands). @module */

/** Entry point of the subcommand. */
export function main(_args: string[]): Promise<number> {
  console.error("saker capture: not implemented yet");
  return Promise.resolve(2);
}
