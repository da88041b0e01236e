// Loaded into the queue server with NODE_OPTIONS=--import (node refuses --cpu-prof in NODE_OPTIONS):
// profiles the whole process with the inspector's sampling profiler and writes a .cpuprofile (open it in
// Chrome DevTools or speedscope) into ESERVER_CPU_PROF_DIR when the process exits.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.ESERVER_CPU_PROF_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // The same-thread session answers synchronously, so the profile is written before the process ends.
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(join(dir, `queue-${process.pid}.cpuprofile`), JSON.stringify(res.profile));
    });
  });
}
