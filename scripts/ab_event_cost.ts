/**
 * The agent's CPU per received event, two or more checkouts alternated in one run: for each
 * round and tree, `saker run` of that tree with Falco's stable rules and `kernel.predicates=false`
 * (so that every open and close of the storm reaches user space), a 1 s warm-up storm, then an
 * open+close storm of one file; the figure is the agent's CPU (every thread's run time) over the
 * growth of `saker_events_received_total`, as `receivedEventCost` in bench/workload.ts measures
 * it. The order of the trees alternates from round to round; medians at the end.
 *
 * Each tree needs its probe built (`deno task build:bpf`) and its `.tools`. Loads the probe: run
 * it as root, under the live lock where several people share the machine.
 *
 * @example
 * ```sh
 * git worktree add ../base main --detach && (cd ../base && ln -s ../main/.tools && deno task build:bpf)
 * deno run -A scripts/ab_event_cost.ts 7 3 ../base .   # rounds, seconds per storm, trees
 * ```
 * @module
 */
interface Outside {
  buildTools(): Promise<{ remove(): Promise<void> }>;
  FALCO_RULES: string | undefined;
  startAgentProcess(o: { rules: string[]; overrides: string[] }): Promise<{
    metric(name: string): Promise<number>;
    cpuNs(): number;
    stop(): Promise<void>;
  }>;
  storm(tools: unknown, seconds: number): Promise<number>;
}

const [roundsArg, secondsArg, ...trees] = Deno.args;
const rounds = Number(roundsArg), seconds = Number(secondsArg);
if (!(rounds > 0) || !(seconds > 0) || trees.length === 0) {
  console.error("usage: ab_event_cost.ts ROUNDS SECONDS TREE...");
  Deno.exit(2);
}
const mods: Outside[] = await Promise.all(
  trees.map((t) => import(new URL(`${t}/scripts/bench/_outside.ts`, `file://${Deno.cwd()}/`).href)),
);
const rules = mods[0].FALCO_RULES;
if (!rules) {
  console.error("Falco's rules not found (SAKER_REFERENCE)");
  Deno.exit(2);
}
const tools = await mods[0].buildTools();
const perEvent: number[][] = trees.map(() => []);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
try {
  for (let r = 0; r < rounds; r++) {
    const order = trees.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      const agent = await mods[i].startAgentProcess({
        rules: [rules],
        overrides: ["kernel.predicates=false"],
      });
      try {
        await mods[i].storm(tools, 1);
        const e0 = await agent.metric("saker_events_received_total");
        const c0 = agent.cpuNs();
        const rate = await mods[i].storm(tools, seconds);
        await new Promise((ok) => setTimeout(ok, 200));
        const received = (await agent.metric("saker_events_received_total")) - e0;
        const ns = (agent.cpuNs() - c0) / Math.max(1, received);
        perEvent[i].push(ns);
        console.log(
          `round ${r} ${trees[i]}: ${ns.toFixed(1)} ns/event, ${received} events, ` +
            `storm ${(rate / 1e6).toFixed(2)}M syscalls/s`,
        );
      } finally {
        await agent.stop();
      }
    }
  }
} finally {
  await tools.remove();
}
trees.forEach((t, i) => {
  const runs = perEvent[i].map((x) => x.toFixed(0)).join(" ");
  console.log(`${t}: median ${median(perEvent[i]).toFixed(1)} ns/event (${runs})`);
});
