// The import rules of Spindle's modules (the table in docs/architecture.md, see scripts/layers.cjs),
// checked by `npm test` (test/repo/layers.test.ts) and by hand with `npm run layers`.
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { forbiddenRules, OPTIONS } = require('./scripts/layers.cjs');

module.exports = {
  forbidden: forbiddenRules(readFileSync(join(__dirname, 'docs', 'architecture.md'), 'utf8')),
  options: OPTIONS,
};
