// The journal's `committed` file: 16 bytes (magic, seq, crc32) overwritten in place, holding the position up
// to which entries are committed to MySQL or consumed by 8002. Written on every change, fdatasynced at most
// once per syncMs while it changes (never under `off`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from './contracts.js';
import { crc32 } from './crc32.js';
import { fsClose, fsFdatasync, fsFsync, fsOpen, syncDir } from './journal-fs.js';

const COMMITTED_FILE = 'committed';
const COMMITTED_MAGIC = 0x45534a43; // "ESJC"
const TWO32 = 0x1_0000_0000;

export class CommittedFile {
  private fd = -1;
  private readonly buf = Buffer.alloc(16);
  private timer: NodeJS.Timeout | null = null;
  private syncing = false;

  constructor(
    private readonly dir: string,
    private readonly o: { sync: boolean; syncMs: number; log: Logger },
  ) {}

  /** Opens (or creates) the file and raises it to atLeast; returns the position it held (0 when none or unreadable). */
  async open(atLeast: number): Promise<number> {
    const file = path.join(this.dir, COMMITTED_FILE);
    const existed = fs.existsSync(file);
    this.fd = await fsOpen(file, fs.constants.O_RDWR | fs.constants.O_CREAT);
    let stored = 0;
    if (existed) {
      const b = Buffer.alloc(16);
      const n = fs.readSync(this.fd, b, 0, 16, 0);
      if (n === 16 && b.readUInt32BE(0) === COMMITTED_MAGIC && b.readUInt32BE(12) === crc32(b, 0, 12)) {
        stored = b.readUInt32BE(4) * TWO32 + b.readUInt32BE(8);
      } else if (n > 0) {
        // Replaying from MySQL's offset (or from the start) re-delivers, it never loses: say so and go on.
        this.o.log.error('journal_committed_unreadable', { file, bytes: n, msg: 'committed position unreadable; entries consumed by 8002 may be delivered again' });
      }
    }
    if (!existed || stored < atLeast) {
      this.encode(Math.max(stored, atLeast));
      fs.writeSync(this.fd, this.buf, 0, 16, 0);
      await fsFsync(this.fd);
      if (!existed) await syncDir(this.dir);
    }
    return stored;
  }

  /**
   * Records seq. Synchronous on purpose: a consumer's 8002 reply leaves after this, so a kill -9 after the
   * reply cannot bring the entry back. 16 bytes at offset 0 stay within one sector.
   */
  write(seq: number): void {
    if (this.fd < 0) return;
    this.encode(seq);
    fs.writeSync(this.fd, this.buf, 0, 16, 0);
    // Made durable within syncMs (one timer while dirty, none while idle).
    if (this.o.sync && this.timer === null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.syncNow();
      }, this.o.syncMs);
      this.timer.unref();
    }
  }

  /** No more timed syncs (close() makes the file durable once more). */
  stopTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  async close(): Promise<void> {
    if (this.fd < 0) return;
    while (this.syncing) await new Promise((r) => setImmediate(r));
    if (this.o.sync) await fsFdatasync(this.fd).catch(() => {});
    await fsClose(this.fd);
    this.fd = -1;
  }

  private async syncNow(): Promise<void> {
    if (this.syncing || this.fd < 0) return;
    this.syncing = true;
    try {
      await fsFdatasync(this.fd);
    } catch (err) {
      this.o.log.error('journal_committed_sync_failed', { err });
    } finally {
      this.syncing = false;
    }
  }

  private encode(seq: number): void {
    const b = this.buf;
    b.writeUInt32BE(COMMITTED_MAGIC, 0);
    b.writeUInt32BE(Math.floor(seq / TWO32), 4);
    b.writeUInt32BE(seq % TWO32, 8);
    b.writeUInt32BE(crc32(b, 0, 12), 12);
  }
}
