/**
 * What `saker replay --capture PREFIX` needs beyond a plain replay: the capture settings'
 * checks (src/config/capture_section.ts) and the recorder that writes the capture files
 * (src/pipeline/recorder.ts, with its file writer). A module of its own, loaded by
 * src/cli/replay.ts through loadCliModule only when `--capture` is given: Deno reads every
 * module a literal `import()` names at every start, so replays without captures name none.
 *
 * @example
 * ```ts
 * import { CaptureRecorder, captureSection } from "./replay_capture.ts";
 * const capture = captureSection({ enabled: true, path_prefix: "/tmp/cap" });
 * // replayCapture(file, { capture, recorderClass: CaptureRecorder, ... })
 * ```
 * @module
 */
export { captureSection } from "../config/capture_section.ts";
export { CaptureRecorder } from "../pipeline/recorder.ts";
