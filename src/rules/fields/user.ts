/**
 * `user.*` and `group.*` fields: the user and group the thread acts as (effective ids), with
 * names, home and shell from the passwd and group files the process sees (a container's own
 * files for container processes), and the audit login user.
 *
 * @example
 * ```ts
 * const f = lookupField("user.name")!; // through the registry (mod.ts)
 * f.def.extract(ev, f.arg); // "root", from the passwd file of the process's root
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import type { FieldClassSpec, FieldDef, FieldResult } from "./registry.ts";
import type { ThreadInfo, UserEntry } from "../../state/model.ts";
import { UPDATED } from "./updates.ts";

function userOf(th: ThreadInfo): UserEntry | undefined {
  return th.proc.state.user(th.uid, th.proc);
}

function t<T extends FieldResult>(get: (t: ThreadInfo, ev: Event) => T) {
  return (ev: Event): FieldResult => {
    const th = ev.thread;
    return th ? get(th, ev) : undefined;
  };
}

const USER_FIELDS: FieldDef[] = [
  {
    name: "user.uid",
    type: "uint32",
    desc: "Effective user id of the thread.",
    updated: UPDATED.ids,
    extract: t((th) => th.uid),
  },
  {
    name: "user.name",
    type: "charbuf",
    desc: "Name of the effective user, from the passwd file the process sees.",
    updated: UPDATED.ids,
    extract: t((th) => userOf(th)?.name),
  },
  {
    name: "user.homedir",
    type: "charbuf",
    desc: "Home directory of the effective user.",
    extract: t((th) => userOf(th)?.home),
  },
  {
    name: "user.shell",
    type: "charbuf",
    desc: "Login shell of the effective user.",
    extract: t((th) => userOf(th)?.shell),
  },
  {
    name: "user.loginuid",
    type: "int64",
    desc: "Audit login user id: the user who logged in, kept across su and sudo; -1 when the " +
      "process descends from no login.",
    updated: UPDATED.loginuid,
    extract: t((th) => th.proc.loginuid),
  },
  {
    name: "user.loginname",
    type: "charbuf",
    desc: "Name of the audit login user.",
    updated: UPDATED.loginuid,
    extract: t((th) =>
      th.proc.loginuid >= 0 ? th.proc.state.user(th.proc.loginuid, th.proc)?.name : undefined
    ),
  },
];

const GROUP_FIELDS: FieldDef[] = [
  {
    name: "group.gid",
    type: "uint32",
    desc: "Effective group id of the thread.",
    updated: UPDATED.ids,
    extract: t((th) => th.gid),
  },
  {
    name: "group.name",
    type: "charbuf",
    desc: "Name of the effective group, from the group file the process sees.",
    updated: UPDATED.ids,
    extract: t((th) => th.proc.state.group(th.gid, th.proc)?.name),
  },
];

/**
 * The fields that read the user and group tables (the passwd and group files, or in a capture
 * its user list events); the others read ids only. A replay whose filter and output read none
 * of them need not apply a capture's user events.
 */
export const USER_TABLE_FIELDS: ReadonlySet<string> = new Set([
  "user.name",
  "user.homedir",
  "user.shell",
  "user.loginname",
  "group.name",
]);

/** True when a field reference (`user.name`, `tolower(user.name)`...) reads the user tables. */
export function readsUserTables(fields: readonly string[]): boolean {
  return fields.some((f) => [...USER_TABLE_FIELDS].some((u) => f.includes(u)));
}

/** The user.* and group.* fields. */
export const USER_GROUP_FIELDS: readonly FieldClassSpec[] = [
  { name: "user", desc: "The user the thread acts as.", fields: USER_FIELDS },
  { name: "group", desc: "The group the thread acts as.", fields: GROUP_FIELDS },
];
