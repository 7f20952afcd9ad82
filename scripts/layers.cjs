// Turns the layers table of docs/architecture.md (between the `layers:begin` and `layers:end`
// markers) into dependency-cruiser rules, so the rule and its documentation are one text. Used by
// .dependency-cruiser.cjs and by test/repo/layers.test.ts (which also checks the rules catch a
// planted forbidden import).

/** Test code may import anything: unit tests, test helpers in testing/ folders, and test/. */
const TEST_CODE = '(\\.test\\.ts$|/testing/|^test/)';

/** Parses the layers table: [{ module: 'bench/tools', mayImport: ['common', …] }, …]. */
function parseLayers(markdown) {
  const begin = markdown.indexOf('<!-- layers:begin');
  const end = markdown.indexOf('<!-- layers:end -->');
  if (begin < 0 || end < begin)
    throw new Error('docs/architecture.md: the layers:begin/layers:end markers are missing');
  const rows = markdown
    .slice(begin, end)
    .split('\n')
    .filter((line) => /^\|\s*`[^`]+\/`\s*\|/.test(line));
  return rows.map((line) => {
    const cells = line.split('|').map((cell) => cell.trim());
    const module = cells[1].replace(/`/g, '').replace(/\/$/, '');
    const allowed = cells[3] === '—' ? [] : cells[3].split(',').map((name) => name.trim());
    return { module, mayImport: allowed };
  });
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** One `forbidden` rule per module: no import of a top-level module outside its `may import` list. */
function layerRules(layers) {
  const topLevel = [...new Set(layers.map((layer) => layer.module.split('/')[0]))];
  return layers.map(({ module, mayImport }) => {
    // A nested module (bench/tools) is excluded from its parent's rule and has its own.
    const nested = layers.filter((other) => other.module.startsWith(`${module}/`)).map((other) => other.module);
    const own = module.split('/')[0];
    const forbidden = topLevel.filter((name) => name !== own && !mayImport.includes(name));
    return {
      name: `layer-${module.replace(/\//g, '-')}`,
      comment: `${module}/ may import only: ${mayImport.join(', ') || 'nothing'} (docs/architecture.md)`,
      severity: 'error',
      from: {
        path: `^${escapeRegExp(module)}/`,
        pathNot: [TEST_CODE, ...nested.map((name) => `^${escapeRegExp(name)}/`)],
      },
      to: { path: forbidden.length === 0 ? '^$' : `^(${forbidden.map(escapeRegExp).join('|')})/` },
    };
  });
}

/** Every rule: the layers of `markdown` plus the rules that hold for all modules. */
function forbiddenRules(markdown) {
  return [
    ...layerRules(parseLayers(markdown)),
    {
      name: 'cli-through-server-index',
      comment: 'cli/ reaches a server module (meta/, storage/) only through its index.ts',
      severity: 'error',
      from: { path: '^cli/', pathNot: TEST_CODE },
      to: { path: '^(meta|storage)/', pathNot: '^(meta|storage)/index\\.ts$' },
    },
    {
      name: 'no-test-code-in-production',
      comment: 'production code never imports tests, test helpers (testing/) or test/',
      severity: 'error',
      from: { pathNot: TEST_CODE },
      to: { path: TEST_CODE },
    },
    {
      name: 'no-dev-dependencies-in-production',
      comment: 'what dist/ runs imports only `dependencies`: an installed package has no devDependencies',
      severity: 'error',
      from: { pathNot: [TEST_CODE, '^bench/tools/', '^scripts/'] },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'no-circular',
      comment: 'no import cycles: split the shared part into its own file',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every relative import resolves to a file',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ];
}

/** Options of every run: TypeScript 7 has no JS compiler API, so the sources are parsed with swc. */
const OPTIONS = {
  parser: 'swc',
  tsPreCompilationDeps: true,
  doNotFollow: { path: 'node_modules' },
  exclude: { path: '^dist/' },
  moduleSystems: ['es6'],
  // Packages' subpath exports (`@bufbuild/protobuf/wire`) resolve as Node resolves them.
  enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'node', 'default'] },
};

module.exports = { parseLayers, layerRules, forbiddenRules, OPTIONS };
