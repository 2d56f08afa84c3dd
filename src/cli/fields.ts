/**
 * `saker fields`: every field conditions and outputs can use, by class, with type and meaning.
 * `--json` and `--markdown` for other tools and docs; `--source` filters by event source.
 * @module
 */
import { fieldClasses, type FieldDef } from "../rules/fields/mod.ts";
import { pluginsForCommand } from "./plugins.ts";
import { nodeParseArgs } from "./args.ts";

const USAGE = `usage: saker fields [--json | --markdown] [--source NAME] [--all]

Lists the fields of conditions and outputs.

  --json          JSON array of {class, name, type, desc, updated, arg}
  --markdown      a Markdown table per class
  --source NAME   only fields of that event source (syscall, k8s_audit ...)
  --all           include deprecated fields
  -c FILE         include the fields of this config's plugins (its load_plugins)`;

function argText(f: FieldDef): string {
  if (!f.arg || f.arg === "none") return "";
  const shape = f.numericArg ? "N" : "ARG";
  const text = f.dottedArg ? `[${shape}] or .${shape}` : `[${shape}]`;
  return f.arg === "required" ? text : `${text} (optional)`;
}

/** The description, with when the value changes for state fields. */
function describe(f: FieldDef): string {
  return f.updated ? `${f.desc} Updated: ${f.updated}` : f.desc;
}

/** Entry point of the subcommand. */
export async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args,
      options: {
        json: { type: "boolean" },
        markdown: { type: "boolean" },
        source: { type: "string" },
        all: { type: "boolean" },
        config: { type: "string", short: "c" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    console.error(`saker fields: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const v = parsed.values;
  if (v.help) {
    console.log(USAGE);
    return 0;
  }
  if (await pluginsForCommand("fields", v.config) === undefined) return 1;
  const classes = fieldClasses().filter((c) =>
    !v.source || (c.source ?? "syscall") === v.source || c.source === "*"
  );
  const visible = (f: FieldDef) => v.all || !f.deprecated;
  if (v.json) {
    const out = classes.flatMap((c) =>
      c.fields.filter(visible).map((f) => ({
        class: c.name,
        source: c.source ?? "syscall",
        name: f.name,
        type: f.type,
        desc: f.desc,
        ...(f.updated ? { updated: f.updated } : {}),
        arg: f.arg ?? "none",
        list: f.list === true,
        deprecated: f.deprecated === true,
      }))
    );
    console.log(JSON.stringify(out, null, 2));
  } else if (v.markdown) {
    const lines: string[] = [];
    for (const c of classes) {
      lines.push(`## ${c.name}`, "", c.desc, "", "| Field | Type | Description |", "|---|---|---|");
      for (const f of c.fields.filter(visible)) {
        const arg = argText(f);
        const desc = describe(f).replaceAll("|", "\\|");
        lines.push(`| \`${f.name}\`${arg ? ` ${arg}` : ""} | ${f.type} | ${desc} |`);
      }
      lines.push("");
    }
    console.log(lines.join("\n"));
  } else {
    for (const c of classes) {
      console.log(`${c.name}: ${c.desc}`);
      for (const f of c.fields.filter(visible)) {
        const arg = argText(f);
        console.log(
          `  ${(f.name + (arg ? " " + arg : "")).padEnd(34)} ${f.type.padEnd(8)} ${describe(f)}`,
        );
      }
      console.log("");
    }
  }
  return 0;
}
