// Static checks of the Docker Compose mode (no engine needed): the compose file validates, the images use
// the very files the native runner renders, every config token gets a value in its container, and the
// shared budget is the native one (2 CPUs, 2 GB).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DEFAULT_BUDGET, DEFAULT_PORTS as DOCKER_PORTS, SERVICES } from '../src/lab/docker/index.js';
import { DEFAULT_PORTS as NATIVE_PORTS } from '../src/lab/native/index.js';
import { repoRoot, sources } from '../src/lab/native/paths.js';
import { tokensIn } from '../src/lab/render.js';
import { DEEP_LISTEN_BACKLOG } from '../src/lab/sysctl.js';

const read = (p: string) => readFileSync(join(repoRoot, p), 'utf8');
const rel = (abs: string) => relative(repoRoot, abs);
const composeText = read('docker-compose.yml');

const DOCKERFILES: Record<string, string> = {
  mysql: 'mysql/Dockerfile',
  'queue-server': 'queue-server/Dockerfile',
  'php-fpm': 'php-client/Dockerfile',
  nginx: 'nginx/Dockerfile',
};
/** The config sources (as the native runner knows them) that each service's image must carry. */
const CONFIGS: Record<string, string[]> = {
  mysql: [rel(sources.myCnf), rel(sources.schema)],
  'queue-server': [rel(sources.queueCli)],
  'php-fpm': [rel(sources.fpmConf), rel(sources.docRoot)],
  nginx: [rel(sources.nginxConf)],
};

/** COPY sources of a Dockerfile (repo-relative, since the build context is the repo root). */
function copySources(dockerfile: string): string[] {
  const out: string[] = [];
  for (const line of read(dockerfile).split('\n')) {
    const m = /^COPY\s+(.+)$/.exec(line.trim());
    if (!m) continue;
    const parts = m[1]!.split(/\s+/).filter((p) => !p.startsWith('--'));
    out.push(...parts.slice(0, -1).map((p) => p.replace(/\/$/, '')));
  }
  return out;
}

/** The `service:` block of docker-compose.yml, as text (up to the next top-level service). */
function serviceBlock(svc: string): string {
  const m = new RegExp(`\\n  ${svc}:\\n([\\s\\S]*?)(?=\\n  [a-z-]+:\\n|$)`).exec(composeText);
  assert.ok(m, `docker-compose.yml has no service ${svc}`);
  return m[1]!;
}

/** LAB_* variables a service's container gets: the Dockerfile's ENV plus the compose environment. */
function labVars(svc: string): Set<string> {
  const names = new Set<string>();
  const df = read(DOCKERFILES[svc]!).replace(/\\\n/g, ' ');
  for (const line of df.split('\n')) {
    if (!/^ENV\s/.test(line)) continue;
    for (const m of line.matchAll(/(LAB_[A-Z0-9_]+)=/g)) names.add(m[1]!);
  }
  for (const m of serviceBlock(svc).matchAll(/^\s+(LAB_[A-Z0-9_]+):/gm)) names.add(m[1]!);
  return names;
}

function composeCli(): string[] | null {
  for (const cmd of [['docker', 'compose'], ['docker-compose']]) {
    try {
      execFileSync(cmd[0]!, [...cmd.slice(1), 'version'], { stdio: 'ignore' });
      return cmd;
    } catch {
      /* try the next */
    }
  }
  return null;
}

describe('docker compose config', () => {
  test('docker-compose.yml validates with the compose CLI that exists here', (t) => {
    const cli = composeCli();
    if (!cli) {
      t.skip('neither `docker compose` nor `docker-compose` is installed (apt-get install -y docker-compose)');
      return;
    }
    const out = execFileSync(cli[0]!, [...cli.slice(1), '-f', join(repoRoot, 'docker-compose.yml'), 'config'], {
      encoding: 'utf8',
      env: { ...process.env, HTTP_PORT: '18080' },
    });
    for (const svc of SERVICES) assert.match(out, new RegExp(`^  ${svc}:$`, 'm'), `config lists ${svc}`);
    assert.match(out, /LAB_HTTP_PORT: '18080'/, 'ports come from the environment / .env');
    // A broken file must fail: the check is real.
    const dir = mkdtempSync(join(tmpdir(), 'esl-compose-'));
    try {
      writeFileSync(join(dir, 'docker-compose.yml'), composeText.replace('\n  init: true', '\n  init: maybe'));
      assert.throws(() => execFileSync(cli[0]!, [...cli.slice(1), '-f', join(dir, 'docker-compose.yml'), 'config', '-q'], { stdio: 'pipe' }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every service: host network, init, the shared cgroup parent, healthy dependencies', () => {
    const anchor = /x-service: &service\n([\s\S]*?)\n\n/.exec(composeText)?.[1] ?? '';
    assert.match(anchor, /network_mode: host/);
    assert.match(anchor, /init: true/);
    assert.match(anchor, /cgroup_parent: \$\{CGROUP_PARENT:-eserver-lab\}/);
    const deps: Record<string, string | null> = { mysql: null, 'queue-server': 'mysql', 'php-fpm': 'queue-server', nginx: 'php-fpm' };
    for (const svc of SERVICES) {
      const block = serviceBlock(svc);
      assert.match(block, /<<: \*service/, `${svc} uses the shared settings`);
      assert.match(block, new RegExp(`dockerfile: ${DOCKERFILES[svc]!.replace('/', '\\/')}`), `${svc} builds its Dockerfile`);
      const dep = deps[svc];
      if (dep) assert.match(block, new RegExp(`${dep}: \\{condition: service_healthy\\}`), `${svc} waits for ${dep}`);
      assert.match(read(DOCKERFILES[svc]!), /^HEALTHCHECK /m, `${svc}'s image has a healthcheck`);
      assert.match(read(DOCKERFILES[svc]!), /^ARG BASE_IMAGE=debian:bookworm-slim\nFROM \$\{BASE_IMAGE\}$/m);
    }
  });
});

describe('docker and native parity', () => {
  test('the images copy the same config files, schema and pages that the native runner renders', () => {
    for (const svc of SERVICES) {
      const copied = copySources(DOCKERFILES[svc]!);
      for (const need of CONFIGS[svc]!) {
        assert.ok(
          copied.some((c) => need === c || need.startsWith(c + '/')),
          `${DOCKERFILES[svc]} copies ${need} (it copies ${copied.join(', ')})`,
        );
      }
    }
  });

  test('every @@TOKEN@@ of a config file has a LAB_ value in its container', () => {
    const files: Record<string, string[]> = {
      nginx: [sources.nginxConf],
      'php-fpm': [sources.fpmConf],
      mysql: [sources.myCnf],
    };
    for (const [svc, list] of Object.entries(files)) {
      const have = labVars(svc);
      for (const f of list) {
        for (const tok of tokensIn(readFileSync(f, 'utf8'))) {
          assert.ok(have.has(`LAB_${tok}`), `${svc}: ${rel(f)} uses @@${tok}@@ but the container has no LAB_${tok}`);
        }
      }
    }
  });

  test('the same default ports and the same 2-CPU / 2 GB budget as the native mode', () => {
    assert.deepEqual(DOCKER_PORTS, NATIVE_PORTS);
    const native = read('bench/src/lab/native/index.ts');
    assert.equal(Number(/opts\.cpus \?\? (\d+(?:\.\d+)?)/.exec(native)?.[1]), DEFAULT_BUDGET.cpus);
    assert.equal(/opts\.memory \?\? '([^']+)'/.exec(native)?.[1], DEFAULT_BUDGET.memory);
    const script = read('bench/scripts/docker-engine.sh');
    assert.match(script, new RegExp(`LAB_CPUS:-${DEFAULT_BUDGET.cpus}\\b`));
    assert.match(script, new RegExp(`LAB_MEMORY:-${DEFAULT_BUDGET.memory}\\b`));
    const env = read('.env.example');
    for (const [k, v] of Object.entries({ HTTP_PORT: 'http', FPM_PORT: 'fpm', QUEUE_PORT: 'queue', METRICS_PORT: 'metrics', MYSQL_PORT: 'mysql' })) {
      assert.match(env, new RegExp(`^${k}=${NATIVE_PORTS[v as keyof typeof NATIVE_PORTS]}$`, 'm'));
      assert.match(composeText, new RegExp(`\\$\\{${k}:-${NATIVE_PORTS[v as keyof typeof NATIVE_PORTS]}\\}`));
    }
  });

  test('the same listen backlog as the native mode, for nginx, php-fpm and the queue server', () => {
    const n = DEEP_LISTEN_BACKLOG;
    assert.match(read('nginx/Dockerfile'), new RegExp(`LAB_LISTEN_BACKLOG=${n}\\b`));
    assert.match(read('php-client/Dockerfile'), new RegExp(`LAB_LISTEN_BACKLOG=${n}\\b`));
    for (const svc of ['nginx', 'php-fpm', 'queue-server']) {
      assert.match(serviceBlock(svc), new RegExp(`LAB_LISTEN_BACKLOG: \\$\\{LISTEN_BACKLOG:-${n}\\}`), `${svc} gets LISTEN_BACKLOG`);
    }
    assert.match(read('queue-server/docker-entrypoint.sh'), new RegExp(`--backlog "\\$\\{LAB_LISTEN_BACKLOG:-${n}\\}"`));
    assert.match(read('.env.example'), new RegExp(`^LISTEN_BACKLOG=${n}$`, 'm'));
  });

  test('.dockerignore lets through exactly the queue server\'s production dependencies', () => {
    // Optional dependencies are left out: the image runs the queue server on node, never on Bun.
    const out = execFileSync('npm', ['ls', '--omit=dev', '--omit=optional', '--workspace', 'queue-server', '--parseable', '--all'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    const deps = out
      .split('\n')
      .map((l) => relative(repoRoot, l.trim()))
      .filter((p) => p.includes('node_modules/') && !p.startsWith('node_modules/@eserver-lab'))
      .sort();
    const allowed = read('.dockerignore')
      .split('\n')
      .filter((l) => /^!(queue-server\/)?node_modules\//.test(l))
      .map((l) => l.slice(1))
      .sort();
    assert.ok(deps.includes('node_modules/mysql2'), 'npm ls lists mysql2');
    assert.deepEqual(allowed, deps);
  });
});

describe('render-tokens.sh (the entrypoints\' renderer)', () => {
  const script = join(repoRoot, 'bench/src/lab/docker/render-tokens.sh');
  test('replaces every token from LAB_ variables, special characters included', () => {
    const dir = mkdtempSync(join(tmpdir(), 'esl-render-'));
    try {
      writeFileSync(join(dir, 'in.conf'), 'listen 127.0.0.1:@@HTTP_PORT@@;\nroot @@DOC_ROOT@@; # @@HTTP_PORT@@\n');
      execFileSync('bash', [script, join(dir, 'in.conf'), join(dir, 'out/out.conf')], {
        env: { PATH: process.env.PATH, LAB_HTTP_PORT: '18080', LAB_DOC_ROOT: '/a|b&c\\d' },
      });
      assert.equal(readFileSync(join(dir, 'out/out.conf'), 'utf8'), 'listen 127.0.0.1:18080;\nroot /a|b&c\\d; # 18080\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('fails, naming the token, when a value is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'esl-render-'));
    try {
      writeFileSync(join(dir, 'in.conf'), 'listen @@FPM_PORT@@;\n');
      assert.throws(
        () => execFileSync('bash', [script, join(dir, 'in.conf'), join(dir, 'out.conf')], { env: { PATH: process.env.PATH }, stdio: 'pipe' }),
        (e: Error & { stderr?: Buffer }) => /@@FPM_PORT@@ \(LAB_FPM_PORT\)/.test(String(e.stderr)),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
