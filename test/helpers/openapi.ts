/**
 * Checks answers against the OpenAPI document (services/api/openapi), so a test
 * that exercises a route also proves the reference describes what it returns:
 *
 *   const res = await fetch(`${api.base}/api/v1/images/${id}`);
 *   const body = await documented(res, 'get', '/api/v1/images/{id}');
 *
 * The status must be one the operation lists, and a JSON body must match that
 * answer's schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses).
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { openApiDocument } from '../../services/api/openapi/document.js';

// ajv-formats is CommonJS: its function is the default export's default under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

const DOC_ID = 'hugemap-openapi.json';

let ajv: Ajv2020 | undefined;
const validators = new Map<string, ValidateFunction>();

function validatorFor(pointer: string): ValidateFunction {
  let validate = validators.get(pointer);
  if (!validate) {
    if (!ajv) {
      // strict: false, since the document has OpenAPI keywords (example, paths...) that are not JSON Schema.
      ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }));
      ajv.addFormat('binary', true);
      ajv.addSchema({ ...openApiDocument(), $id: DOC_ID });
    }
    validate = ajv.compile({ $ref: `${DOC_ID}#${pointer}` });
    validators.set(pointer, validate);
  }
  return validate;
}

/** `#/paths/~1api~1v1~1images/get`: a JSON pointer segment escapes `~` and `/`. */
function escape(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** The operation the document lists for `method path`, or an error naming what is missing. */
export function documentedOperation(method: string, path: string): { responses: Record<string, { content?: Record<string, unknown> }> } {
  const item = (openApiDocument().paths ?? {})[path] as Record<string, unknown> | undefined;
  const operation = item?.[method.toLowerCase()] as { responses: Record<string, { content?: Record<string, unknown> }> } | undefined;
  if (!operation) throw new Error(`the OpenAPI document has no ${method.toUpperCase()} ${path}`);
  return operation;
}

/**
 * Reads the answer's body and checks status and body against the document; returns the body
 * (parsed JSON, or text for other types). Throws with ajv's errors when they do not match.
 */
export async function documented(res: Response, method: string, path: string): Promise<unknown> {
  const operation = documentedOperation(method, path);
  const status = String(res.status);
  const answer = operation.responses[status];
  if (!answer) throw new Error(`${method.toUpperCase()} ${path} answered ${res.status}, which the OpenAPI document does not list (${Object.keys(operation.responses).join(', ')})`);
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const text = await res.text();
  if (type !== 'application/json') return text;
  const body = JSON.parse(text) as unknown;
  if (!answer.content?.['application/json']) throw new Error(`${method.toUpperCase()} ${path} ${status}: the document lists no JSON body, the answer has one: ${text.slice(0, 200)}`);
  const pointer = `/paths/${escape(path)}/${method.toLowerCase()}/responses/${status}/content/${escape('application/json')}/schema`;
  const validate = validatorFor(pointer);
  if (!validate(body)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}`).join('; ');
    throw new Error(`${method.toUpperCase()} ${path} ${status} does not match the OpenAPI document: ${problems}\n${text.slice(0, 500)}`);
  }
  return body;
}
