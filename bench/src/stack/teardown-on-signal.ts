// Ctrl-C (or a TERM) during a run: tear the stack down, then exit 130/143. A user who presses Ctrl-C again
// while that takes its few seconds must not cut it short, or the stack stays up with its cgroup; the
// repeated signal is answered with a line saying so. (`eserver-lab down` is the way out of a runner that
// was killed outright.)

/** Installs the handlers; returns the function that removes them once the run has torn down by itself. */
export function teardownOnSignal(label: string, teardown: () => Promise<unknown>, log: (line: string) => void): () => void {
  let tearingDown = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (tearingDown) {
      log(`${label}${sig} again: still tearing down the stack, a few seconds more (leaving now would leave it running)`);
      return;
    }
    tearingDown = true;
    log(`${label}${sig}: tearing down`);
    void teardown().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
