/**
 * The layering of src/ (docs/architecture.md, "Layers"), checked by `npm run lint:imports`
 * as part of `npm test`. Shells over jobs over engines and the repository over storage;
 * each rule names the direction it forbids.
 */
const BASE = '^src/(errors|clock|progress|version|make-dir|self-command|byte-size|byte-size-schema)\\.ts$';
const TESTS = '\\.test\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      comment: 'Modules form no import cycle that runs (a cycle through `import type` only is erased).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'storage-is-the-floor',
      comment: 'storage/ knows only the base modules: backends are plain byte stores.',
      severity: 'error',
      from: { path: '^src/storage/', pathNot: TESTS },
      to: { path: '^src/', pathNot: [BASE, '^src/storage/'] },
    },
    {
      name: 'repo-over-storage-only',
      comment: 'repo/ owns its formats and imports only storage/ and the base modules.',
      severity: 'error',
      from: { path: '^src/repo/', pathNot: TESTS },
      to: { path: '^src/', pathNot: [BASE, '^src/repo/', '^src/storage/'] },
    },
    {
      name: 'repo-internals-stay-inside',
      comment: "Outside repo/, only the repository's public modules are imported.",
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/repo/', '^src/testing/', TESTS] },
      to: {
        path: '^src/repo/',
        pathNot:
          '^src/repo/(repository|snapshot|tree|content-store|lock|object-archive|object-sealers|maintenance/[a-z-]+)\\.ts$',
      },
    },
    {
      name: 'sources-below-jobs',
      comment:
        'Engines do not reach up into jobs, shells or the catalog; of the repository they see only the tree and snapshot formats they write through a ContentStore.',
      severity: 'error',
      from: { path: '^src/sources/', pathNot: TESTS },
      to: {
        path: '^src/(jobs|cli|server|catalog|notify|daemon)/|^src/repo/',
        pathNot: '^src/repo/(tree|snapshot)\\.ts$',
      },
    },
    {
      name: 'cli-not-server',
      comment: 'The two shells meet in jobs/, never in each other.',
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: '^src/server/' },
    },
    {
      name: 'server-not-cli',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'cli-starts-light',
      comment:
        "The CLI's entry, its wrapper and each command group's options (cli/*-commands.ts) import no job, repository, storage, catalog or notify code statically: the handlers (cli/*-actions.ts) and the context load it with import() when their command runs.",
      severity: 'error',
      from: { path: '^src/cli/(main|shell|[a-z-]+-commands?)\\.ts$' },
      to: {
        path: '^src/(jobs|repo|storage|catalog/catalog|notify|server)/|^src/cli/[a-z-]+-actions\\.ts$',
        dependencyTypesNot: ['type-only', 'dynamic-import'],
      },
    },
    {
      name: 'nothing-below-shells-imports-up',
      comment: 'jobs/, catalog/, notify/, config/, scratch/ never import the shells.',
      severity: 'error',
      from: { path: '^src/(jobs|catalog|notify|config|scratch|sources|repo|storage)/' },
      to: { path: '^src/(cli|server)/' },
    },
    {
      name: 'beside-jobs-not-jobs',
      comment: 'catalog/, notify/ and config/ sit beside jobs/ and do not call into it.',
      severity: 'error',
      from: { path: '^src/(catalog|notify|config|scratch)/', pathNot: TESTS },
      to: { path: '^src/jobs/' },
    },
    {
      name: 'no-testing-in-production',
      comment: 'testing/ holds suites and fakes for tests only.',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/testing/', TESTS] },
      to: { path: '^src/testing/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|web)/' },
    tsPreCompilationDeps: true,
    parser: 'tsc',
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
