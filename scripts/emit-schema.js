// Writes config/schema.json (for editors and external tools) from the TypeBox
// schema compiled by tsc. Run by `npm run build` after tsc.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { schemaJson } from '../dist/src/config/schema.js';

const out = fileURLToPath(new URL('../config/schema.json', import.meta.url));
// JSON round trip drops TypeBox's symbol keys; draft-07 is what Ajv's default class speaks.
const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...JSON.parse(JSON.stringify(schemaJson())) };

// Fail the build rather than ship a schema Ajv (strict) would reject.
new Ajv({ strict: true }).compile(schema);

writeFileSync(out, `${JSON.stringify(schema, null, 2)}\n`);
console.log(`wrote ${out}`);
