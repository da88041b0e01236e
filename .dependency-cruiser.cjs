// The import rules of every workspace, checked by common/test/import-graph.test.ts (part of `make test`);
// `npx depcruise common/src queue-server/src bench/src` prints the same verdict by hand.
//  - no import cycle anywhere;
//  - common imports no other workspace (everything may import it), the queue server never imports the bench;
//  - bench/src is layered, lowest first (BENCH_LAYERS): a folder imports its own layer or lower ones only.

/** bench/src's folders, lowest first; a folder may import its own layer and those before it, never a later one. */
const BENCH_LAYERS = [
  ['host'], // facts and controls of this machine: cgroups, sysctls, open files, the CPU model
  ['lab'], // the stack's runtimes (native, docker) behind one contract
  ['metrics', 'load', 'check', 'protocol-bench'], // measuring: samplers, the load generators, the exactly-once checks
  ['stack'], // one resolver and one session over the runtimes
  ['plan', 'results'], // what a run plans and what it records
  ['report', 'enqueue-cost'], // reading the results; the enqueue-cost bench (over protocol-bench)
  ['run'], // the bench run pipeline
  ['calibrate', 'chaos', 'gate', 'cli.ts'], // the commands
];

const folder = (names) => `^bench/src/(${names.map((n) => n.replace('.', '[.]')).join('|')})(/|$)`;

const layerRules = BENCH_LAYERS.slice(0, -1).map((layer, i) => ({
  name: `bench-layer-${layer.join('+')}`,
  comment: `bench/src/{${layer.join(',')}} is below ${BENCH_LAYERS.slice(i + 1).flat().join(', ')}: it must not import them (move the shared part down instead)`,
  severity: 'error',
  from: { path: folder(layer) },
  to: { path: folder(BENCH_LAYERS.slice(i + 1).flat()) },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'an import cycle: break it by moving what both sides need into a module below them',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'common-imports-no-workspace',
      comment: 'common is the lowest package: it must not import another workspace',
      severity: 'error',
      from: { path: '^common/' },
      to: { path: '^(bench|queue-server|php-client)/' },
    },
    {
      name: 'queue-server-imports-no-bench',
      comment: 'the queue server is measured by the bench, never the other way round',
      severity: 'error',
      from: { path: '^queue-server/' },
      to: { path: '^(bench|php-client)/' },
    },
    ...layerRules,
  ],
  options: {
    // Type-only imports count: a cycle through types is still a cycle for a reader.
    tsPreCompilationDeps: true,
    // Another workspace is reached through its package's exports (its dist/): an edge, not followed.
    doNotFollow: { path: ['node_modules', '/dist/'] },
    exclude: { path: ['/test/', '\\.d\\.ts$'] },
  },
};
