// GET /openapi.json through a real OpenAPI validator. The
// @seriousme/openapi-schema-validator package checks the document
// against the OpenAPI 3.1 schema and resolves its references. Its 3.1
// schema takes any object as a Schema Object, so ajv (the JSON Schema
// validator the package runs on, resolved through the package) then
// compiles every schema of the document in strict mode.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Validator } from '@seriousme/openapi-schema-validator';
import { baseURL } from './lib.mjs';

const fromValidator = createRequire(import.meta.resolve('@seriousme/openapi-schema-validator'));
const Ajv2020 = fromValidator('ajv/dist/2020.js').default;
const addFormats = fromValidator('ajv-formats').default;

let doc;

before(async () => {
  const res = await fetch(`${baseURL}/openapi.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json\b/);
  doc = await res.json();
});

test('the document is valid OpenAPI 3.1', async () => {
  // The package turns ajv's strict mode off for the OpenAPI schema itself
  // (which strict mode rejects); every error is reported all the same.
  const validator = new Validator({ allErrors: true });
  const res = await validator.validate(structuredClone(doc));
  if (!res.valid) console.error('openapi.json is not valid OpenAPI:', JSON.stringify(res.errors, null, 2));
  assert.equal(res.valid, true);
  assert.equal(validator.version, '3.1');
  assert.match(doc.openapi, /^3\.1\.\d+$/);
});

test("info.version is the daemon's version", async () => {
  const root = await (await fetch(`${baseURL}/`)).json();
  assert.equal(doc.info.version, root.version);
});

/** Every Schema Object of doc, with where it is: media types, headers, parameters, components. */
function schemas(doc) {
  const found = [];
  (function walk(node, path) {
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      // A schema is the "schema" of a media type (content/<type>), a
      // header (headers/<name>) or a parameter (parameters/<i>).
      if (key === 'schema' && ['content', 'headers', 'parameters'].includes(path.at(-2))) {
        found.push([[...path, key].join('/'), value]);
      } else {
        walk(value, [...path, key]);
      }
    }
  })(doc, ['#']);
  for (const name of Object.keys(doc.components?.schemas ?? {})) {
    found.push([`#/components/schemas/${name}`, { $ref: `#/components/schemas/${name}` }]);
  }
  return found;
}

test('every schema is JSON Schema 2020-12 that ajv compiles in strict mode', () => {
  // Component schemas live under one $id; references to them are
  // rewritten to it.
  const base = 'urn:warmbox:openapi';
  const relocate = (schema) => JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${base}#/$defs/`));
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  // The keywords OpenAPI 3.1 adds to JSON Schema.
  ajv.addVocabulary(['discriminator', 'xml', 'externalDocs', 'example']);
  ajv.addSchema({ $id: base, $defs: relocate(doc.components.schemas) });
  const failures = [];
  const all = schemas(doc);
  for (const [where, schema] of all) {
    try {
      ajv.compile(relocate(schema));
    } catch (err) {
      failures.push(`${where}: ${err.message}`);
    }
  }
  if (failures.length) console.error(failures.join('\n'));
  assert.deepEqual(failures, []);
  assert.ok(all.length > 20, `only ${all.length} schemas found`);
});

test('nullable values are spelled as OpenAPI 3.1 does (a "null" type), not with 3.0\'s nullable', () => {
  // ajv accepts "nullable" as an extension, so strict mode lets it pass;
  // OpenAPI 3.1 has no such field anywhere.
  const spelled = [];
  (function walk(node, where) {
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'nullable') spelled.push(where);
      walk(value, `${where}/${key}`);
    }
  })(doc, '#');
  assert.deepEqual(spelled, []);
});
