/**
 * kubeconform's schemas without the network: kubeconform downloads its JSON schemas
 * (one file per kind) from GitHub, which CI cannot reach. Kubernetes' own OpenAPI
 * document (api/openapi-spec/swagger.json of the k8s.io/kubernetes Go module, which
 * tools/build-test-servers.sh fetches from the Go module proxy) has every built-in
 * kind; this writes it out the way kubeconform reads a schema folder: standalone
 * (each file carries the definitions it refers to) and strict (no property the
 * schema does not name), as the openapi2jsonschema tool that made kubeconform's
 * catalogue does.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

type Schema = Record<string, unknown>;

/** Types Kubernetes spells as strings in OpenAPI but accepts as numbers too. */
const NUMBER_OR_STRING: Record<string, Schema> = {
  'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { oneOf: [{ type: 'string' }, { type: 'integer' }] },
  'io.k8s.apimachinery.pkg.api.resource.Quantity': { oneOf: [{ type: 'string' }, { type: 'number' }] },
};

/**
 * Writes `<kind>-<group>-<version>.json` (kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}`) for
 * every kind in `swaggerPath` into `outDir`; returns how many.
 */
export async function writeKubeconformSchemas(swaggerPath: string, outDir: string): Promise<number> {
  const swagger = JSON.parse(await readFile(swaggerPath, 'utf8')) as { definitions: Record<string, Schema> };
  const definitions: Record<string, Schema> = {};
  for (const [name, def] of Object.entries(swagger.definitions)) definitions[name] = NUMBER_OR_STRING[name] ?? strict(def);
  await mkdir(outDir, { recursive: true });
  let written = 0;
  for (const [name, def] of Object.entries(swagger.definitions)) {
    const gvks = def['x-kubernetes-group-version-kind'] as Array<{ group: string; version: string; kind: string }> | undefined;
    for (const gvk of gvks ?? []) {
      const needed = closure(name, definitions);
      const schema = { ...definitions[name], definitions: Object.fromEntries(needed.map((n) => [n, definitions[n]])) };
      const group = gvk.group === '' ? '' : `-${gvk.group.split('.')[0]!.toLowerCase()}`;
      await writeFile(path.join(outDir, `${gvk.kind.toLowerCase()}${group}-${gvk.version.toLowerCase()}.json`), JSON.stringify(schema));
      written++;
    }
  }
  return written;
}

/** Every object that lists its properties allows no others (kubeconform -strict's meaning). */
function strict(node: unknown): Schema {
  const walk = (n: unknown): unknown => {
    if (Array.isArray(n)) return n.map(walk);
    if (n === null || typeof n !== 'object') return n;
    const out: Schema = {};
    for (const [k, v] of Object.entries(n)) out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Schema).map(([p, s]) => [p, walk(s)])) : walk(v);
    if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
    return out;
  };
  return walk(node) as Schema;
}

/** The definitions `name` refers to, directly or not, itself included. */
function closure(name: string, definitions: Record<string, Schema>): string[] {
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n) || !definitions[n]) return;
    seen.add(n);
    for (const ref of JSON.stringify(definitions[n]).matchAll(/"\$ref":"#\/definitions\/([^"]+)"/g)) visit(ref[1]!);
  };
  visit(name);
  return [...seen];
}
