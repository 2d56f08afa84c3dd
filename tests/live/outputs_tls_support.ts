/** Test support: a private CA and a server certificate made with openssl. */

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const r = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!r.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(r.stderr)}`);
}

/**
 * A private CA and a server certificate for 127.0.0.1 signed by it, in `dir`. Returns the CA
 * file path, the server certificate and key (PEM text), and a combined PEM file path.
 */
export async function makeCa(
  dir: string,
): Promise<{ ca: string; cert: string; key: string; combined: string }> {
  await openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "ca.key",
    "-out",
    "ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=saker test CA",
  );
  await openssl(
    dir,
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=127.0.0.1",
  );
  await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=IP:127.0.0.1\n");
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "ext.cnf",
  );
  const cert = await Deno.readTextFile(`${dir}/server.pem`);
  const key = await Deno.readTextFile(`${dir}/server.key`);
  await Deno.writeTextFile(`${dir}/combined.pem`, cert + key);
  return {
    combined: `${dir}/combined.pem`,
    ca: `${dir}/ca.pem`,
    cert,
    key,
  };
}
