#!/usr/bin/env node
// `eserver-queue`: runs the queue server in the foreground until SIGTERM/SIGINT.
import { Command, Option } from 'commander';
import { ConfigError, DEFAULTS, OPTION_SPECS, envName, readConfigFile, resolveConfig, type Config } from './config.js';
import { JsonLogger } from './log.js';
import { startApp } from './app.js';

function buildProgram(): Command {
  const program = new Command('eserver-queue')
    .description(
      'The eserver CircularQueue wire protocol (cmd 8001 enqueue, 8002 dequeue, 8003 length) in TypeScript.\n' +
        `Precedence: defaults < --config file ({"queue": {"port": ${DEFAULTS.port}, ...}}) < ESERVER_* env vars < flags.`,
    )
    .option('--config <path>', 'JSON config file (env ESERVER_CONFIG)')
    .allowExcessArguments(false);
  for (const s of OPTION_SPECS) {
    if (s.kind === 'bool') {
      program.addOption(new Option(`--${s.flag}`, `${s.help} (env ${envName(s.key)}; default on)`));
      program.addOption(new Option(`--no-${s.flag}`, `disable: ${s.flag}`));
      continue;
    }
    const def = defaultText(s.key);
    const opt = new Option(`--${s.flag} <${s.arg ?? 'value'}>`, `${s.help} (env ${envName(s.key)}${def})`);
    if (s.choices) opt.choices(s.choices as string[]);
    program.addOption(opt);
  }
  return program;
}

function defaultText(key: keyof Config): string {
  const d = DEFAULTS[key];
  if (d === null || d === undefined) return '';
  return `; default ${Array.isArray(d) ? d.join(',') : String(d)}`;
}

async function main(): Promise<void> {
  const program = buildProgram();
  program.parse(process.argv);
  const opts = program.opts<Record<string, unknown>>();

  let cfg: Config;
  try {
    const path = (opts.config as string | undefined) ?? process.env.ESERVER_CONFIG;
    const flags: Partial<Record<keyof Config, unknown>> = {};
    for (const s of OPTION_SPECS) if (opts[s.key] !== undefined) flags[s.key] = opts[s.key];
    cfg = resolveConfig({ file: path ? readConfigFile(path) : undefined, filePath: path, env: process.env, flags });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`eserver-queue: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const appLog = new JsonLogger({ level: cfg.logLevel, base: { svc: 'eserver-queue' } });
  let app;
  try {
    app = await startApp(cfg, appLog);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const msg =
      e.code === 'EADDRINUSE'
        ? `port already in use (${e.message}); pick another with --port / --metrics-port`
        : e.code === 'EACCES'
          ? `permission denied to listen (${e.message})`
          : e.message;
    appLog.error('start_failed', { err: e });
    process.stderr.write(`eserver-queue: cannot start: ${msg}\n`);
    process.exit(1);
  }

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      appLog.warn('forced_exit', { signal: sig });
      process.exit(130);
    }
    app
      .stop(sig)
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        appLog.error('stop_failed', { err });
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

main().catch((err: unknown) => {
  process.stderr.write(`eserver-queue: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
