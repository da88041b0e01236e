// Static checks of the Docker Compose mode (no engine needed): docker-compose.yml, the committed .env, the
// Dockerfiles and the entrypoints, each read as data (YAML, KEY=VALUE lines, Dockerfile instructions, what an
// entrypoint runs) and checked against the stack spec (common/src/stack-spec.ts, docker/compose-env.ts):
// no port, account, command line or health check is written there a second time.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  DEFAULT_COMPOSE_STACK,
  composeVariables,
  containerArgs,
  containerEnv,
  envExample,
  serviceVariable,
} from '../src/lab/docker/compose-env.js';
import { repoRoot, sources } from '../src/lab/paths.js';
import { tokensIn } from '@eserver-lab/common/render';
import { SERVICES, type ServiceName } from '@eserver-lab/common/stack-spec';
import { BUN_PACKAGE, DEFAULT_QUEUE_RUNTIME, QUEUE_RUNTIMES } from '@eserver-lab/queue-server/runtime';


const read = (p: string) => readFileSync(join(repoRoot, p), 'utf8');
const rel = (abs: string) => relative(repoRoot, abs);
const composeText = read('docker-compose.yml');
const defaults = composeVariables(DEFAULT_COMPOSE_STACK);

const DOCKERFILES: Record<ServiceName, string> = {
  mysql: 'mysql/Dockerfile',
  'queue-server': 'queue-server/Dockerfile',
  'php-fpm': 'php-client/Dockerfile',
  nginx: 'nginx/Dockerfile',
};
const ENTRYPOINTS: Record<ServiceName, string> = {
  mysql: 'mysql/docker-entrypoint.sh',
  'queue-server': 'queue-server/docker-entrypoint.sh',
  'php-fpm': 'php-client/docker-entrypoint.sh',
  nginx: 'nginx/docker-entrypoint.sh',
};
/** The program each entrypoint becomes (the queue server's: the default stack's runtime, Bun). */
const PROGRAMS: Record<ServiceName, string> = { mysql: 'mariadbd', 'queue-server': 'bun', 'php-fpm': 'php-fpm', nginx: 'nginx' };
/** The config sources (as the native runner knows them) that each service's image must carry. */
const CONFIGS: Record<ServiceName, string[]> = {
  mysql: [rel(sources.myCnf), rel(sources.schema), rel(sources.labUserSql)],
  'queue-server': [rel(sources.queueCli)],
  'php-fpm': [rel(sources.fpmConf), rel(sources.docRoot)],
  nginx: [rel(sources.nginxConf)],
};

/** A Dockerfile's instructions, continuation lines joined: [INSTRUCTION, rest]. */
function instructions(dockerfile: string): [string, string][] {
  return read(dockerfile)
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .map((l) => {
      const m = /^\s*(\S+)\s+(.*)$/.exec(l)!;
      return [m[1]!.toUpperCase(), m[2]!.trim()];
    });
}

/** COPY sources of a Dockerfile (repo-relative, since the build context is the repo root). */
function copySources(dockerfile: string): string[] {
  return instructions(dockerfile)
    .filter(([i]) => i === 'COPY')
    .flatMap(([, rest]) => rest.split(/\s+/).filter((p) => !p.startsWith('--')).slice(0, -1).map((p) => p.replace(/\/$/, '')));
}

/** ENV names=values of a Dockerfile. */
function imageEnv(dockerfile: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, rest] of instructions(dockerfile)) {
    if (i !== 'ENV') continue;
    for (const m of rest.matchAll(/([A-Z0-9_]+)=(\S*)/g)) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Compose's interpolation: ${VAR}, ${VAR:?err}, ${VAR:-default} (the default is reported, to be refused). */
function interpolate(text: string, vars: Record<string, string>, seen: { name: string; fallback: string | null }[]): string {
  return text.replace(/\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op: string | undefined, arg: string) => {
    seen.push({ name, fallback: op === '-' ? arg : null });
    const v = vars[name];
    if (v === undefined) throw new Error(`docker-compose.yml uses \${${name}}, which the stack spec does not render`);
    return v;
  });
}

interface ComposeService {
  command?: string;
  environment?: Record<string, string>;
  build?: { dockerfile?: string };
  depends_on?: Record<string, { condition: string }>;
  network_mode?: string;
  init?: boolean;
  cgroup_parent?: string;
}
/** docker-compose.yml parsed (YAML merge keys resolved) after interpolation with `vars`. */
function composeWith(vars: Record<string, string>, seen: { name: string; fallback: string | null }[] = []) {
  return parseYaml(interpolate(composeText, vars, seen), { merge: true }) as { services: Record<string, ComposeService> };
}

/** KEY=VALUE lines of an env file, comments and blank lines left out. */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    assert.ok(i > 0, `not KEY=VALUE: ${line}`);
    out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
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

/**
 * Runs a service's entrypoint with `args` as its command, the container's environment from the spec, and
 * stand-ins for every program it calls (each records its argv); flag-value is the real one. Returns the
 * recorded calls, in order. Nothing outside a temporary directory is touched.
 */
function runEntrypoint(svc: ServiceName, args: string[], extraEnv: Record<string, string> = {}): string[][] {
  const dir = mkdtempSync(join(tmpdir(), 'esl-entry-'));
  try {
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const calls = join(dir, 'calls');
    const stand = ['node', 'bun', 'mariadbd', 'mariadb-install-db', 'nginx', 'php-fpm', 'render-tokens', 'ln', 'chown', 'cat'];
    for (const p of stand) {
      // One line per call, its arguments tab-separated (no argument has a tab). Each reads its input to the
      // end as the real program does (mariadbd --bootstrap reads the init SQL), so no writer gets SIGPIPE.
      writeFileSync(join(bin, p), `#!/bin/bash\n{ printf '%s' "$(basename "$0")"; printf '\\t%s' "$@"; echo; } >> ${JSON.stringify(calls)}\n/bin/cat > /dev/null\n`);
      chmodSync(join(bin, p), 0o755);
    }
    copyFileSync(join(repoRoot, 'docker/flag-value.sh'), join(bin, 'flag-value'));
    chmodSync(join(bin, 'flag-value'), 0o755);
    // mkdir creates what lies in the temporary directory (the logs the entrypoint writes to), nothing else.
    writeFileSync(join(bin, 'mkdir'), `#!/bin/bash\nfor a in "$@"; do case "$a" in ${JSON.stringify(dir)}/*) /bin/mkdir -p "$a";; esac; done\n`);
    writeFileSync(calls, '');
    const env = {
      PATH: `${bin}:${process.env.PATH}`,
      ...containerEnv(DEFAULT_COMPOSE_STACK, svc),
      ...imageEnv(DOCKERFILES[svc]),
      LAB_RUN_DIR: join(dir, 'run'),
      ...extraEnv,
    };
    execFileSync('bash', [join(repoRoot, ENTRYPOINTS[svc]), ...args], { env, stdio: 'pipe' });
    return readFileSync(calls, 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t'));
  } catch (err) {
    const e = err as Error & { stderr?: Buffer };
    throw new Error(`${ENTRYPOINTS[svc]}: ${e.message} ${String(e.stderr ?? '')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('docker compose config', () => {
  test('docker-compose.yml validates with the compose CLI that exists here, on the spec\'s variables', (t) => {
    const cli = composeCli();
    if (!cli) {
      t.skip('neither `docker compose` nor `docker-compose` is installed (apt-get install -y docker-compose)');
      return;
    }
    const env = { ...process.env, ...defaults, HTTP_PORT: '18080' };
    const out = execFileSync(cli[0]!, [...cli.slice(1), '-f', join(repoRoot, 'docker-compose.yml'), 'config'], { encoding: 'utf8', env });
    const cfg = parseYaml(out) as { services: Record<string, ComposeService> };
    assert.deepEqual(Object.keys(cfg.services).sort(), [...SERVICES].sort());
    assert.equal(cfg.services.nginx!.environment!.LAB_HTTP_PORT, '18080', 'ports come from the environment / .env');
    // Nothing has a default in the file: without the variables (a copy of the file with no .env beside it),
    // compose refuses and says what to do.
    const bare = Object.fromEntries(Object.entries(process.env).filter(([k]) => !(k in defaults)));
    const alone = mkdtempSync(join(tmpdir(), 'esl-compose-bare-'));
    try {
      writeFileSync(join(alone, 'docker-compose.yml'), composeText);
      assert.throws(
        () => execFileSync(cli[0]!, [...cli.slice(1), '-f', join(alone, 'docker-compose.yml'), 'config', '-q'], { env: bare, stdio: 'pipe', cwd: alone }),
        (e: Error & { stderr?: Buffer }) => /set in the committed \.env \(regenerate it with node bench\/dist\/src\/lab\/cli\.js env > \.env\)/.test(String(e.stderr)),
      );
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
    // In the repo root, as in a fresh clone, the committed .env supplies them: no extra step.
    execFileSync(cli[0]!, [...cli.slice(1), 'config', '-q'], { env: bare, stdio: 'pipe', cwd: repoRoot });
    // A broken file must fail: the check is real.
    const dir = mkdtempSync(join(tmpdir(), 'esl-compose-'));
    try {
      writeFileSync(join(dir, 'docker-compose.yml'), composeText.replace('\n  init: true', '\n  init: maybe'));
      assert.throws(() => execFileSync(cli[0]!, [...cli.slice(1), '-f', join(dir, 'docker-compose.yml'), 'config', '-q'], { stdio: 'pipe', env }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every service: host network, init, the shared cgroup parent, its Dockerfile, healthy dependencies', () => {
    const { services } = composeWith(defaults);
    const deps: Record<ServiceName, string | null> = { mysql: null, 'queue-server': 'mysql', 'php-fpm': 'queue-server', nginx: 'php-fpm' };
    for (const svc of SERVICES) {
      const c = services[svc]!;
      assert.equal(c.network_mode, 'host', `${svc}: host network`);
      assert.equal(c.init, true, `${svc}: init`);
      assert.equal(c.cgroup_parent, DEFAULT_COMPOSE_STACK.cgroupParent, `${svc}: the shared parent`);
      assert.equal(c.build?.dockerfile, DOCKERFILES[svc]);
      const dep = deps[svc];
      assert.deepEqual(c.depends_on, dep ? { [dep]: { condition: 'service_healthy' } } : undefined, `${svc} waits for ${dep}`);
      assert.match(read(DOCKERFILES[svc]), /^ARG BASE_IMAGE=debian:bookworm-slim\nFROM \$\{BASE_IMAGE\}$/m);
    }
  });
});

describe('the stack spec, and nothing else, in the Docker files', () => {
  test('docker-compose.yml gives each container the spec\'s command line, health check and tokens, with no default of its own', () => {
    const seen: { name: string; fallback: string | null }[] = [];
    const { services } = composeWith(defaults, seen);
    const args = containerArgs(DEFAULT_COMPOSE_STACK);
    for (const svc of SERVICES) {
      const c = services[svc]!;
      // Compose splits a string command on blanks.
      assert.deepEqual(c.command?.split(' '), args[svc], `${svc}: command`);
      // Compose hands every environment value over as a string; YAML reads 8080 as a number.
      const env = Object.fromEntries(Object.entries(c.environment ?? {}).map(([k, v]) => [k, String(v)]));
      assert.deepEqual(env, containerEnv(DEFAULT_COMPOSE_STACK, svc), `${svc}: environment`);
    }
    const withDefault = seen.filter((v) => v.fallback !== null);
    assert.deepEqual(withDefault, [], 'a ${VAR:-default} in docker-compose.yml would be a second definition');
    // Every variable the spec renders is used (a renamed one would otherwise go nowhere).
    assert.deepEqual([...new Set(seen.map((v) => v.name))].sort(), Object.keys(defaults).sort());
  });

  test('the committed .env is the spec\'s variables for the default stack (regenerate: node bench/dist/src/lab/cli.js env > .env)', () => {
    const text = read('.env');
    assert.deepEqual(parseEnvFile(text), defaults);
    assert.equal(text, envExample());
  });

  test('the images define none of the values the spec passes, and check health the spec\'s way', () => {
    for (const svc of SERVICES) {
      const env = imageEnv(DOCKERFILES[svc]);
      const passed = Object.keys(containerEnv(DEFAULT_COMPOSE_STACK, svc));
      assert.deepEqual(Object.keys(env).filter((k) => passed.includes(k)), [], `${DOCKERFILES[svc]} ENV shadows what the lab passes`);
      const hc = instructions(DOCKERFILES[svc]).filter(([i]) => i === 'HEALTHCHECK');
      assert.equal(hc.length, 1, `${svc}: one HEALTHCHECK`);
      assert.match(hc[0]![1], /\bCMD lab-health$/, `${svc}: HEALTHCHECK runs lab-health (LAB_HEALTH from the spec)`);
    }
  });

  test('each entrypoint becomes its program with exactly the command line it was given', () => {
    for (const svc of SERVICES) {
      const ran = runEntrypoint(svc, containerArgs(DEFAULT_COMPOSE_STACK)[svc]);
      const last = ran.filter((r) => r[0] === PROGRAMS[svc]).at(-1);
      assert.ok(last, `${svc}: the entrypoint runs ${PROGRAMS[svc]} (it ran: ${ran.map((r) => r[0]).join(', ')})`);
      const given = containerArgs(DEFAULT_COMPOSE_STACK)[svc];
      assert.deepEqual(last.slice(-given.length), given, `${svc}: ${PROGRAMS[svc]}'s arguments`);
      if (svc !== 'queue-server') assert.ok(ran.some((r) => r[0] === 'render-tokens'), `${svc}: renders its config`);
    }
    // Without a command line, an entrypoint stops with the fix instead of starting on defaults.
    assert.throws(() => runEntrypoint('queue-server', []), /QUEUE_SERVER_ARGS in \.env\)/);
  });

  test('the queue-server entrypoint runs the server on the runtime QUEUE_RUNTIME names: bun by default, node when asked', () => {
    const args = containerArgs(DEFAULT_COMPOSE_STACK)['queue-server'];
    const cli = '/srv/eserver-lab/queue-server/dist/src/cli.js';
    assert.equal(containerEnv(DEFAULT_COMPOSE_STACK, 'queue-server').QUEUE_RUNTIME, DEFAULT_QUEUE_RUNTIME);
    assert.equal(defaults.QUEUE_RUNTIME, 'bun');
    for (const runtime of QUEUE_RUNTIMES) {
      const ran = runEntrypoint('queue-server', args, { QUEUE_RUNTIME: runtime });
      assert.deepEqual(ran.at(-1), [runtime, cli, ...args], `QUEUE_RUNTIME=${runtime}`);
      assert.deepEqual(containerEnv({ ...DEFAULT_COMPOSE_STACK, queueRuntime: runtime }, 'queue-server').QUEUE_RUNTIME, runtime);
      assert.equal(composeVariables({ ...DEFAULT_COMPOSE_STACK, queueRuntime: runtime }).QUEUE_RUNTIME, runtime);
    }
    assert.throws(() => runEntrypoint('queue-server', args, { QUEUE_RUNTIME: '' }), /no QUEUE_RUNTIME given: the lab passes it/);
    assert.throws(() => runEntrypoint('queue-server', args, { QUEUE_RUNTIME: 'deno' }), /QUEUE_RUNTIME=deno is not a runtime of this image: use QUEUE_RUNTIME=bun or QUEUE_RUNTIME=node/);
  });

  test('the queue-server image takes Bun from the pinned npm package, copied from node_modules (no download)', () => {
    const pkg = JSON.parse(read('queue-server/package.json')) as { optionalDependencies?: Record<string, string> };
    assert.match(pkg.optionalDependencies?.[BUN_PACKAGE] ?? '', /^\d+\.\d+\.\d+$/, `${BUN_PACKAGE} is pinned to one version`);
    const steps = instructions(DOCKERFILES['queue-server']);
    assert.ok(copySources(DOCKERFILES['queue-server']).includes('node_modules'), 'the image copies node_modules');
    assert.ok(read('.dockerignore').split('\n').includes(`!node_modules/${BUN_PACKAGE}`), '.dockerignore lets the Bun package through');
    const link = steps.find(([i, rest]) => i === 'RUN' && rest.includes(`node_modules/${BUN_PACKAGE}/bin/bun`));
    assert.ok(link && /ln -s "\$bun" \/usr\/local\/bin\/bun/.test(link[1]) && /bun --version/.test(link[1]), 'bun on PATH from the package, checked at build time');
    assert.ok(!steps.some(([i, rest]) => i === 'RUN' && /(^|&&|;|\|\|)\s*(curl|wget|npm|npx)\s/.test(rest)), 'nothing is downloaded for Bun');
  });

  test('lab-health runs the spec\'s check: http and tcp against real listeners, unknown kinds refused', async () => {
    const { createServer } = await import('node:http');
    const srv = createServer((req, res) => res.writeHead(req.url === '/healthz' ? 200 : 503).end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    const health = (h: string) =>
      new Promise<number>((resolve) => {
        const c = execFile('bash', [join(repoRoot, 'docker/lab-health.sh')], { env: { PATH: process.env.PATH, LAB_HEALTH: h } });
        c.on('exit', (code) => resolve(code ?? -1));
      });
    try {
      assert.equal(await health(`http 127.0.0.1 ${port} /healthz`), 0);
      assert.notEqual(await health(`http 127.0.0.1 ${port} /other`), 0, 'a 503 is not healthy');
      assert.equal(await health(`tcp 127.0.0.1 ${port}`), 0);
      // The check goes to the host it names (a remote stack's nginx listens on the engine's address).
      assert.notEqual(await health(`http 127.0.0.2 ${port} /healthz`), 0, 'nothing listens there');
      assert.equal(await health('unknown 1'), 2);
    } finally {
      srv.close();
    }
    assert.notEqual(await health(`tcp 127.0.0.1 ${port}`), 0, 'a closed port is not healthy');
  });
});

describe('docker and native parity', () => {
  test('the images copy the same config files, schema and pages that the native runner renders', () => {
    for (const svc of SERVICES) {
      const copied = copySources(DOCKERFILES[svc]);
      for (const need of CONFIGS[svc]) {
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
      mysql: [sources.myCnf, sources.labUserSql],
    };
    for (const [svc, list] of Object.entries(files) as [ServiceName, string[]][]) {
      const have = new Set([...Object.keys(imageEnv(DOCKERFILES[svc])), ...Object.keys(containerEnv(DEFAULT_COMPOSE_STACK, svc))]);
      for (const f of list) {
        for (const tok of tokensIn(readFileSync(f, 'utf8'))) {
          assert.ok(have.has(`LAB_${tok}`), `${svc}: ${rel(f)} uses @@${tok}@@ but the container has no LAB_${tok}`);
        }
      }
    }
  });

  test('.dockerignore lets through exactly the queue server\'s production dependencies', () => {
    // Optional dependencies included: the image runs the queue server on Bun (the optional package's binary).
    const out = execFileSync('npm', ['ls', '--omit=dev', '--workspace', 'queue-server', '--parseable', '--all'], {
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
  const script = join(repoRoot, 'docker/render-tokens.sh');
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
