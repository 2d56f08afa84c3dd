/**
 * Live rule tests (placeholder while the temporary agent is built).
 * @module
 */
import type { LiveRunner } from "./runner.ts";

/** Runs live tests under a temporary agent. */
export class TemporaryAgentRunner implements LiveRunner {
  unavailable(): Promise<string | undefined> {
    return Promise.resolve("live tests are not built yet");
  }
  run(): Promise<void> {
    return Promise.resolve();
  }
}
