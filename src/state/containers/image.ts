/**
 * Splitting an image reference (`registry:5000/team/app:1.2@sha256:...`) into repository, tag
 * and digest, as the container.image.* fields show them.
 *
 * @example
 * ```ts
 * import { splitImage } from "./image.ts";
 * splitImage("docker.io/library/busybox:1.36"); // { repository: "docker.io/library/busybox", tag: "1.36", digest: "" }
 * ```
 * @module
 */

/** Parts of an image reference. */
export interface ImageParts {
  repository: string;
  tag: string;
  digest: string;
}

/** Splits an image reference; a registry port (`host:5000/x`) is not taken for a tag. */
export function splitImage(image: string): ImageParts {
  let rest = image;
  let digest = "";
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag = "";
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  return { repository: rest, tag, digest };
}
