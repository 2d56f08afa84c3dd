/**
 * The live test's reading of `strace -f` logs: a call strace split in two (another traced
 * process ran before it returned) counts as the one call it is, wherever the pieces are.
 */
import { assert, assertEquals } from "../support/assert.ts";
import { passes, relevantLines, wholeCalls } from "../support/strace.ts";

/** Recorded under `strace -f` (simulate reverse-shell): the lab's listener (28402) accepts while
 * the client (28404) is in dup2, so both calls are split. */
const REVERSE_SHELL = [
  `28402 accept(4, NULL, NULL <unfinished ...>`,
  `28404 connect(4, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("203.0.113.10")}, 16) = 0`,
  `28404 dup2(4, 0 <unfinished ...>`,
  `28402 <... accept resumed>)             = 5`,
  `28404 <... dup2 resumed>)               = 0`,
  `28404 dup2(4, 1)                        = 1`,
  `28404 execve("/bin/sh", ["sh", "-c", "exit 0"], 0x7fffef85dc40 /* 35 vars */) = 0`,
].join("\n");

/** The live test's check for the reverse shell. */
const REVERSE_SHELL_CHECK = {
  seq: [
    /connect\(\d+, \{sa_family=AF_INET, sin_port=htons\(4444\), sin_addr=inet_addr\("203\.0\.113\.10"\)\}, 16\) = 0/,
    /dup2\(\d+, 0\) = 0/,
    /execve\("\/bin\/sh", \["sh", "-c", "exit 0"\]/,
  ],
};

Deno.test("strace log: split calls are read whole, where they returned", () => {
  assertEquals(wholeCalls(REVERSE_SHELL), [
    `28404 connect(4, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("203.0.113.10")}, 16) = 0`,
    `28402 accept(4, NULL, NULL) = 5`,
    `28404 dup2(4, 0) = 0`,
    `28404 dup2(4, 1) = 1`,
    `28404 execve("/bin/sh", ["sh", "-c", "exit 0"], 0x7fffef85dc40 /* 35 vars */) = 0`,
  ]);
});

Deno.test("strace log: a sequence check passes across a split call", () => {
  assert(passes(REVERSE_SHELL, REVERSE_SHELL_CHECK));
  // The same calls in other processes do not make a sequence.
  const other = REVERSE_SHELL.replace(/^28404 dup2\(4, 0/m, "28405 dup2(4, 0")
    .replace("28404 <... dup2", "28405 <... dup2");
  assert(!passes(other, REVERSE_SHELL_CHECK));
});

Deno.test("strace log: a split blocking connect and recvfrom count as returned", () => {
  const trace = [
    `7 connect(3, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("203.0.113.10")}, 16 <unfinished ...>`,
    `8 accept(4, NULL, NULL) = 5`,
    `7 <... connect resumed>) = 0`,
    `7 recvfrom(3,  <unfinished ...>`,
    `8 write(5, "\\xca\\xfe\\xba\\xbe", 4) = 4`,
    `7 <... recvfrom resumed>"\\xca\\xfe\\xba\\xbe", 256, 0, NULL, NULL) = 4`,
  ].join("\n");
  assert(passes(trace, /connect\(\d+, .*htons\(4444\).*, 16\) = 0/));
  assert(passes(trace, /recvfrom\(\d+, .*, 256, 0, NULL, NULL\) = 4/));
});

Deno.test("strace log: a pid shorter than five digits is padded, and its split calls still join", () => {
  // As a fresh machine writes it: pids of four digits, two spaces after each.
  const trace = [
    `6146  connect(3, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("203.0.113.10")}, 16 <unfinished ...>`,
    `6145  accept(4, NULL, NULL) = 5`,
    `6146  <... connect resumed>) = 0`,
    `6146  dup2(3, 0) = 0`,
    `6146  execve("/bin/sh", ["sh", "-c", "exit 0"], 0x7ffe34387150 /* 35 vars */) = 0`,
  ].join("\n");
  assert(passes(trace, REVERSE_SHELL_CHECK));
  assertEquals(
    wholeCalls(trace)[1],
    `6146 connect(3, {sa_family=AF_INET, sin_port=htons(4444), sin_addr=inet_addr("203.0.113.10")}, 16) = 0`,
  );
});

Deno.test("strace log: a call never resumed stays as written", () => {
  const trace = `9 accept(4, NULL, NULL <unfinished ...>\n9 +++ killed by SIGKILL +++`;
  assertEquals(wholeCalls(trace), [
    `9 accept(4, NULL, NULL <unfinished ...>`,
    `9 +++ killed by SIGKILL +++`,
  ]);
  assert(passes(trace, /accept4?\(\d+, NULL, NULL/));
  assert(!passes(trace, /accept\(4, NULL, NULL\) = \d+/));
});

Deno.test("strace log: a failed check shows the lines of the calls it looks for", () => {
  const noConnect = REVERSE_SHELL.split("\n").filter((l) => !l.includes("connect(")).join("\n");
  assert(!passes(noConnect, REVERSE_SHELL_CHECK));
  assertEquals(relevantLines(noConnect, REVERSE_SHELL_CHECK), [
    `28404 dup2(4, 0) = 0`,
    `28404 dup2(4, 1) = 1`,
    `28404 execve("/bin/sh", ["sh", "-c", "exit 0"], 0x7fffef85dc40 /* 35 vars */) = 0`,
  ]);
  assertEquals(relevantLines(REVERSE_SHELL, /accept\(4/), [`28402 accept(4, NULL, NULL) = 5`]);
  assertEquals(relevantLines(REVERSE_SHELL, REVERSE_SHELL_CHECK, 1).length, 1);
});
