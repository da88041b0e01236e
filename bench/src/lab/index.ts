// Picks a lab runtime. Docker lives in ./docker/ (its own part); it is loaded lazily so that the native
// mode never depends on it, and `auto` falls back to native when it is missing or no engine answers.
import type { LabRuntime } from './types.js';
import { nativeRuntime } from './native/index.js';

export type RuntimeChoice = 'native' | 'docker' | 'auto';

type DockerModule = typeof import('./docker/index.js');

async function loadDocker(log: (l: string) => void): Promise<DockerModule | null> {
  // Imported on first use, so that a native run never loads (or fails on) the Docker runtime.
  try {
    return await import('./docker/index.js');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Missing is normal (not built); anything else is a bug worth seeing before falling back.
    if (e.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('docker')) {
      log(`lab: the docker runtime failed to load: ${e.message}`);
    }
    return null;
  }
}

export async function getRuntime(name: RuntimeChoice, log: (l: string) => void = () => {}): Promise<LabRuntime> {
  if (name === 'native') return nativeRuntime;
  const docker = await loadDocker(log);
  if (name === 'docker') {
    if (!docker) throw new Error('the docker runtime is not available (bench/src/lab/docker is not built)');
    if (!(await docker.dockerEngineAnswers())) throw new Error(docker.noEngineMessage());
    return docker.dockerRuntime;
  }
  if (docker && (await docker.dockerEngineAnswers())) {
    log('lab: runtime auto -> docker (an engine answers)');
    return docker.dockerRuntime;
  }
  // An engine on another machine was asked for (DOCKER_HOST, a context): a stack here would be another run.
  if (docker?.engine().remoteHost) throw new Error(docker.noEngineMessage());
  log(`lab: runtime auto -> native (${docker ? 'no Docker engine answers' : 'no docker runtime built'})`);
  return nativeRuntime;
}

export { nativeRuntime };
export type * from './types.js';
