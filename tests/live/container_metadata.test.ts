/**
 * Container facts from a container's first event, under the real agent: 20 short-lived podman
 * containers started back to back (`true`, `cat /etc/passwd`, a privileged `mount`, a sensitive
 * host mount), each labelled as a Kubernetes pod. Every alert they cause must carry the
 * container's name, image, privileged flag, mounts and pod name, and Falco's container rules
 * (stable + incubating, loaded unchanged) and Saker's own must fire for every container. Runs
 * the container benchmark (scripts/bench/containers.ts) and asserts on what it measured.
 */
import { assertEquals } from "../support/assert.ts";
import { haveTool, needsRoot, REFERENCE_DIR, REPO_ROOT, skipNote } from "../support/env.ts";
import { bench } from "../../scripts/bench/containers.ts";

const ignore = needsRoot() ||
  (!haveTool("podman") && (skipNote("podman is not installed"), true)) ||
  (!REFERENCE_DIR && (skipNote("../shared/reference is absent: container rules test"), true));

Deno.test({
  name: "containers live: 20 short-lived containers, every alert with full metadata",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await bench({ reference: REFERENCE_DIR, tree: REPO_ROOT, count: 20 });
    console.log(`\n${JSON.stringify(r, null, 2)}`);
    assertEquals(r.containers, 20);
    assertEquals(r.incomplete_examples, [], "alerts lacking container metadata");
    assertEquals(r.alerts_with_complete_metadata, r.alerts);
    assertEquals(r.rules_fired_for, {
      "Container process started (benchmark)": "20/20",
      "Launch Privileged Container": "5/5",
      "Mount Launched in Privileged Container": "5/5",
      "Privileged container started": "5/5",
      "Container with sensitive host mount started": "5/5",
    });
  },
});
