// One queued statement. `seq` is the server's sequence number that replaced the `%d`.
export interface Entry {
  seq: number;
  sql: string;
}
