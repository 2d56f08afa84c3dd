/**
 * `fd.*` fields: the file descriptor an event uses, creates or closes — its path or connection,
 * kind, addresses and ports. Only events that involve an fd have these fields (others give
 * undefined). For an open that failed, fd.name still gives the path the process asked for.
 *
 * Client/server: for a connected socket the client is the end that connected and the server the
 * end that accepted; local/remote are this process's end and the other one.
 *
 * @example
 * ```ts
 * const f = lookupField("fd.name")!; // through the registry (mod.ts)
 * f.def.extract(ev, f.arg); // "/etc/shadow" for an open of it
 * ```
 * @module
 */
import type { Event } from "../../events/event.ts";
import type { FieldClassSpec, FieldDef, FieldResult } from "./registry.ts";
import { EF } from "../../events/table.ts";
import { FD_TYPE, type FdInfo, fdTypeName, ROLE } from "../../state/model.ts";
import { openedPath } from "../../state/resolve.ts";
import { sockAddrText, sockTupleText } from "../../events/socket_text.ts";
import type { SockAddr, SockTuple } from "../../events/params.ts";
import { baseName, dirName, squashSlashes } from "../../state/paths.ts";
import { UPDATED } from "./updates.ts";

const FD_EVENT = EF.CREATES_FD | EF.USES_FD | EF.DESTROYS_FD;

/** The fd of an fd-related event: the one state attached, else the one its number names. */
function fdOf(ev: Event): FdInfo | undefined {
  if ((ev.info.flags & FD_EVENT) === 0) return undefined;
  const fd = ev.fdInfo;
  if (fd !== undefined) return fd;
  return ev.fdNum >= 0 ? ev.thread?.proc.fds.get(ev.fdNum) : undefined;
}

function isFdEvent(ev: Event): boolean {
  return (ev.info.flags & FD_EVENT) !== 0;
}

/** fd.name for an fd-related event that has no fd state: what the event's parameters say. */
function nameFromEvent(ev: Event, raw: boolean): string | undefined {
  if (ev.info.dir !== "<") return undefined;
  const path = openedPath(ev, raw);
  if (path !== undefined) return path;
  const n = ev.info.name;
  if (n === "connect" || n === "accept" || n === "accept4") {
    const t = ev.arg("tuple") as SockTuple | null | undefined;
    if (t) return sockTupleText(t);
    return sockAddrText(ev.arg("addr") as SockAddr | null | undefined);
  }
  return "";
}

const TYPECHAR_BY_EVENT: Record<string, string> = {
  open: "f",
  openat: "f",
  openat2: "f",
  creat: "f",
  socket: "4",
  accept: "4",
  accept4: "4",
  pipe: "p",
  pipe2: "p",
  eventfd: "e",
  eventfd2: "e",
  signalfd: "s",
  signalfd4: "s",
  timerfd_create: "t",
  inotify_init: "i",
  inotify_init1: "i",
};

function isFile(fd: FdInfo): boolean {
  return fd.type === FD_TYPE.FILE || fd.type === FD_TYPE.FILE_V2;
}

function isConnSock(fd: FdInfo): boolean {
  return fd.type === FD_TYPE.IPV4_SOCK || fd.type === FD_TYPE.IPV6_SOCK;
}

function isServSock(fd: FdInfo): boolean {
  return fd.type === FD_TYPE.IPV4_SERVSOCK || fd.type === FD_TYPE.IPV6_SERVSOCK;
}

/** The local end is the client unless this process is the server. */
function localIsClient(fd: FdInfo): boolean {
  return fd.role !== ROLE.SERVER;
}

function f<T extends FieldResult>(get: (fd: FdInfo, ev: Event) => T) {
  return (ev: Event): FieldResult => {
    const fd = fdOf(ev);
    return fd ? get(fd, ev) : undefined;
  };
}

const cip = (fd: FdInfo) => (isConnSock(fd) && fd.role !== ROLE.NONE ? fd.cip : undefined);
const sip = (fd: FdInfo) =>
  isServSock(fd) ? fd.sip : isConnSock(fd) && fd.role !== ROLE.NONE ? fd.sip : undefined;
const lip = (fd: FdInfo) =>
  isConnSock(fd) && fd.role !== ROLE.NONE ? (localIsClient(fd) ? fd.cip : fd.sip) : undefined;
const rip = (fd: FdInfo) =>
  isConnSock(fd) && fd.role !== ROLE.NONE ? (localIsClient(fd) ? fd.sip : fd.cip) : undefined;
const cport = (fd: FdInfo) => (isConnSock(fd) && fd.role !== ROLE.NONE ? fd.cport : undefined);
const sport = (fd: FdInfo) =>
  isServSock(fd) ? fd.sport : isConnSock(fd) && fd.role !== ROLE.NONE ? fd.sport : undefined;
const lport = (fd: FdInfo) =>
  isConnSock(fd) && fd.role !== ROLE.NONE ? (localIsClient(fd) ? fd.cport : fd.sport) : undefined;
const rport = (fd: FdInfo) =>
  isConnSock(fd) && fd.role !== ROLE.NONE ? (localIsClient(fd) ? fd.sport : fd.cport) : undefined;

function both<T>(a: T | undefined, b: T | undefined): T[] | undefined {
  if (a === undefined && b === undefined) return undefined;
  const out: T[] = [];
  if (a !== undefined) out.push(a);
  if (b !== undefined && b !== a) out.push(b);
  return out;
}

const L4_NAMES = ["<NA>", "<NA>", "tcp", "udp", "icmp", "raw"];

/** Linux new_encode_dev layout: minor low byte, major, then the minor's high bits. */
function devMajor(dev: number): number {
  return (dev & 0xfff00) >>> 8;
}
function devMinor(dev: number): number {
  return (dev & 0xff) | ((dev >>> 12) & 0xfff00);
}

function portText(port: number | undefined): string | undefined {
  return port === undefined ? undefined : String(port);
}

const FIELDS: FieldDef[] = [
  {
    name: "fd.num",
    type: "int64",
    desc: "Number of the file descriptor the event uses or creates; -1 when a call that " +
      "creates one failed.",
    extract: (ev) => (isFdEvent(ev) && ev.thread ? ev.fdNum : undefined),
  },
  {
    name: "fd.type",
    type: "charbuf",
    desc: "Kind of file descriptor: file, directory, ipv4, ipv6, unix, pipe, event, signalfd, " +
      "eventpoll, inotify, timerfd, netlink, bpf, userfaultfd, io_uring, memfd, pidfd.",
    extract: f((fd) => fdTypeName(fd.type)),
  },
  {
    name: "fd.typechar",
    type: "charbuf",
    desc: "Kind of file descriptor as one character: f file, d directory, 4/6 IPv4/IPv6 " +
      "socket, u unix socket, p pipe, e eventfd, s signalfd, l eventpoll, i inotify, " +
      "t timerfd, n netlink, b bpf, r io_uring, m memfd, P pidfd, o other.",
    extract: (ev) => {
      if (!isFdEvent(ev)) return undefined;
      const fd = fdOf(ev);
      if (fd) return fd.typechar;
      return TYPECHAR_BY_EVENT[ev.info.name] ?? "o";
    },
  },
  {
    name: "fd.name",
    type: "charbuf",
    desc: "Name of the file descriptor: the absolute, normalised path for files and " +
      "directories; `client:port->server:port` for connected sockets; the path for unix " +
      "sockets.",
    updated: UPDATED.fdName,
    extract: (ev) => {
      if (!isFdEvent(ev)) return undefined;
      const fd = fdOf(ev);
      if (!fd) return nameFromEvent(ev, false);
      // A failed connect is named by the tuple it carries (libsinsp), e.g. a unix socket's peer.
      if (ev.info.name === "connect" && ev.dir === "<" && (ev.res ?? 0) < 0) {
        const t = ev.arg("tuple") as SockTuple | null | undefined;
        if (t) return sockTupleText(t);
      }
      return fd.name;
    },
  },
  {
    name: "fd.nameraw",
    type: "charbuf",
    desc: "The path as the process passed it, before resolution against the working directory " +
      "(repeated slashes collapsed). Comparing it with fd.name shows `../` tricks.",
    extract: (ev) => {
      if (!isFdEvent(ev)) return undefined;
      const fd = fdOf(ev);
      if (!fd) return nameFromEvent(ev, true);
      return squashSlashes(fd.nameraw);
    },
  },
  {
    name: "fd.directory",
    type: "charbuf",
    desc: "For files: the directory that holds the file; for directories: the directory.",
    extract: (ev) => {
      if (!isFdEvent(ev)) return undefined;
      const fd = fdOf(ev);
      if (!fd) {
        const n = nameFromEvent(ev, false);
        return n === undefined ? undefined : dirName(n);
      }
      if (fd.type === FD_TYPE.DIRECTORY) return fd.name;
      return isFile(fd) ? dirName(fd.name) : undefined;
    },
  },
  {
    name: "fd.filename",
    type: "charbuf",
    desc: "For files: the file name without its directory.",
    extract: f((fd) => (isFile(fd) ? baseName(fd.name) : undefined)),
  },
  {
    name: "fd.ip",
    type: "ipaddr",
    desc: "Either IP address of the connection (client or server); matches when one does. " +
      "For conditions only.",
    list: true,
    extract: f((fd) => both(cip(fd), sip(fd))),
  },
  { name: "fd.cip", type: "ipaddr", desc: "Client IP address.", extract: f(cip) },
  { name: "fd.sip", type: "ipaddr", desc: "Server IP address.", extract: f(sip) },
  {
    name: "fd.lip",
    type: "ipaddr",
    desc: "Local IP address (this process's end).",
    extract: f(lip),
  },
  {
    name: "fd.rip",
    type: "ipaddr",
    desc: "Remote IP address (the other end).",
    extract: f(rip),
  },
  {
    name: "fd.port",
    type: "port",
    desc: "Either port of the connection (client or server); matches when one does.",
    list: true,
    extract: f((fd) => both(cport(fd), sport(fd))),
  },
  { name: "fd.cport", type: "port", desc: "Client port.", extract: f(cport) },
  { name: "fd.sport", type: "port", desc: "Server port.", extract: f(sport) },
  { name: "fd.lport", type: "port", desc: "Local port.", extract: f(lport) },
  { name: "fd.rport", type: "port", desc: "Remote port.", extract: f(rport) },
  {
    name: "fd.proto",
    type: "charbuf",
    desc: "Either port of the connection as text; matches when one does.",
    list: true,
    extract: f((fd) => both(portText(cport(fd)), portText(sport(fd)))),
  },
  {
    name: "fd.cproto",
    type: "charbuf",
    desc: "Client port as text.",
    extract: f((fd) => portText(cport(fd))),
  },
  {
    name: "fd.sproto",
    type: "charbuf",
    desc: "Server port as text.",
    extract: f((fd) => portText(sport(fd))),
  },
  {
    name: "fd.lproto",
    type: "charbuf",
    desc: "Local port as text.",
    extract: f((fd) => portText(lport(fd))),
  },
  {
    name: "fd.rproto",
    type: "charbuf",
    desc: "Remote port as text.",
    extract: f((fd) => portText(rport(fd))),
  },
  {
    name: "fd.l4proto",
    type: "charbuf",
    desc: "Transport protocol of a socket: tcp, udp, icmp or raw.",
    extract: f((fd) => L4_NAMES[fd.l4proto] ?? "<NA>"),
  },
  {
    name: "fd.sockfamily",
    type: "charbuf",
    desc: "Socket family: ip for IPv4/IPv6 sockets, unix for unix sockets.",
    extract: f((fd) =>
      isConnSock(fd) || isServSock(fd) ? "ip" : fd.type === FD_TYPE.UNIX_SOCK ? "unix" : undefined
    ),
  },
  {
    name: "fd.is_server",
    type: "bool",
    desc: "True when this process is the server end of the connection (it accepted it, or " +
      "the socket listens).",
    extract: f((fd) => isServSock(fd) || fd.role === ROLE.SERVER),
  },
  {
    name: "fd.connected",
    type: "bool",
    desc: "True when the socket is connected.",
    extract: f((fd) => fd.connected),
  },
  {
    name: "fd.name_changed",
    type: "bool",
    desc: "True when this event changed the fd's name (e.g. a socket that connected).",
    extract: f((fd) => fd.nameChanged),
  },
  {
    name: "fd.net",
    type: "ipnet",
    desc: "Either IP address of the connection, for network (CIDR) matches. Conditions only.",
    list: true,
    extract: f((fd) => both(cip(fd), sip(fd))),
  },
  { name: "fd.cnet", type: "ipnet", desc: "Client IP, for network matches.", extract: f(cip) },
  { name: "fd.snet", type: "ipnet", desc: "Server IP, for network matches.", extract: f(sip) },
  { name: "fd.lnet", type: "ipnet", desc: "Local IP, for network matches.", extract: f(lip) },
  { name: "fd.rnet", type: "ipnet", desc: "Remote IP, for network matches.", extract: f(rip) },
  {
    name: "fd.cip.name",
    type: "charbuf",
    desc: "Domain name of the client IP. Saker does not track DNS answers, so this is never " +
      "known (as in Falco with DNS tracking off).",
    extract: () => undefined,
  },
  {
    name: "fd.sip.name",
    type: "charbuf",
    desc: "Domain name of the server IP (never known: DNS answers are not tracked).",
    extract: () => undefined,
  },
  {
    name: "fd.lip.name",
    type: "charbuf",
    desc: "Domain name of the local IP (never known: DNS answers are not tracked).",
    extract: () => undefined,
  },
  {
    name: "fd.rip.name",
    type: "charbuf",
    desc: "Domain name of the remote IP (never known: DNS answers are not tracked).",
    extract: () => undefined,
  },
  {
    name: "fd.dev",
    type: "int32",
    desc: "Device number of the file system holding the file.",
    extract: f((fd) => fd.dev),
  },
  {
    name: "fd.dev.major",
    type: "int32",
    desc: "Major number of fd.dev.",
    extract: f((fd) => devMajor(fd.dev)),
  },
  {
    name: "fd.dev.minor",
    type: "int32",
    desc: "Minor number of fd.dev.",
    extract: f((fd) => devMinor(fd.dev)),
  },
  {
    name: "fd.ino",
    type: "int64",
    desc: "Inode number of the file.",
    extract: f((fd) => fd.ino),
  },
  {
    name: "fd.uid",
    type: "charbuf",
    desc: "Thread id followed by fd number: an identifier of the fd for this thread.",
    extract: (ev) => (isFdEvent(ev) && ev.thread ? `${ev.tid}${ev.fdNum}` : undefined),
  },
  {
    name: "fd.containername",
    type: "charbuf",
    desc: "Container id (12 characters, empty on the host) and fd name joined by a colon.",
    extract: (ev) => {
      if (!isFdEvent(ev) || !ev.thread) return undefined;
      const fd = fdOf(ev);
      const name = fd ? fd.name : nameFromEvent(ev, false);
      return name === undefined ? undefined : `${ev.thread.proc.containerId.slice(0, 12)}:${name}`;
    },
  },
  {
    name: "fd.containerdirectory",
    type: "charbuf",
    desc: "Container id (12 characters, empty on the host) and fd.directory joined by a colon.",
    extract: (ev) => {
      if (!isFdEvent(ev) || !ev.thread) return undefined;
      const fd = fdOf(ev);
      const name = fd ? fd.name : nameFromEvent(ev, false);
      if (name === undefined) return undefined;
      const dir = fd && fd.type === FD_TYPE.DIRECTORY ? name : dirName(name);
      return `${ev.thread.proc.containerId.slice(0, 12)}:${dir}`;
    },
  },
  {
    name: "fd.types",
    type: "charbuf",
    desc: "Kinds of all file descriptors the process has open (each kind once); fd.types[n] " +
      "gives the kind of fd n alone.",
    arg: "optional",
    numericArg: true,
    list: true,
    extract: (ev, arg) => {
      const th = ev.thread;
      if (!isFdEvent(ev) || !th) return undefined;
      if (arg !== undefined) {
        const fd = th.proc.fds.get(Number(arg));
        return fd ? [fdTypeName(fd.type)] : undefined;
      }
      const kinds = new Set<string>();
      for (const fd of th.proc.fds.values()) kinds.add(fdTypeName(fd.type));
      return [...kinds];
    },
  },
  {
    name: "fd.is_upper_layer",
    type: "bool",
    desc: "True when the file is in the writable upper layer of an overlay file system.",
    extract: f((fd) => fd.upperLayer),
  },
  {
    name: "fd.is_lower_layer",
    type: "bool",
    desc: "True when the file comes from a read-only lower layer of an overlay file system.",
    extract: f((fd) => fd.lowerLayer),
  },
];

/** The fd.* fields. */
export const FD_FIELDS: FieldClassSpec = {
  name: "fd",
  desc: "The file descriptor the event uses, creates or closes.",
  fields: FIELDS,
};
