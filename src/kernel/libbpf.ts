/**
 * Deno FFI bindings to the system's libbpf.so.1 (Debian 12 ships 1.1.2; every symbol used here
 * exists there). Only what loading, attaching and map access need.
 * @module
 */

const symbols = {
  libbpf_set_print: { parameters: ["function"], result: "pointer" },
  bpf_object__open_mem: { parameters: ["buffer", "usize", "buffer"], result: "pointer" },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_map_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_object__find_program_by_name: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_map__set_max_entries: { parameters: ["pointer", "u32"], result: "i32" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__initial_value: { parameters: ["pointer", "buffer"], result: "pointer" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__set_autoload: { parameters: ["pointer", "bool"], result: "i32" },
  bpf_program__attach: { parameters: ["pointer"], result: "pointer" },
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  bpf_map_update_elem: { parameters: ["i32", "buffer", "buffer", "u64"], result: "i32" },
  bpf_map_lookup_elem: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  libbpf_get_error: { parameters: ["pointer"], result: "i64" },
} as const;

type Libbpf = Deno.DynamicLibrary<typeof symbols>["symbols"];
let lib: Libbpf | undefined;

/** Thrown when libbpf cannot be loaded at all. */
export class LibbpfMissingError extends Error {}

/** The libbpf symbols (opened on first use). */
export function libbpf(): Libbpf {
  if (lib) return lib;
  try {
    lib = Deno.dlopen("libbpf.so.1", symbols).symbols;
  } catch (err) {
    throw new LibbpfMissingError(
      `cannot load libbpf.so.1 (${(err as Error).message.split("\n")[0]}): ` +
        "install it with `apt-get install libbpf1`",
    );
  }
  return lib;
}

/** A NUL-terminated C string in a buffer. */
export function cstr(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s + "\0");
}
