/**
 * The Durable Object behind the Workers replay store: one shard of "which proof ids were spent,
 * until when". Strongly consistent because a key always lands in the same object (./shard.ts) and
 * `markUsed` reads and writes SQLite synchronously, with no await between the check and the write,
 * so no other call on this object can interleave. Its answer leaves only after the write is durable
 * (the output gate). An alarm deletes expired rows.
 */
import { DurableObject } from 'cloudflare:workers';
import { SWEEP_INTERVAL_SEC } from './constants.ts';

export class ReplayGuard extends DurableObject<unknown> {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec('CREATE TABLE IF NOT EXISTS used (key TEXT PRIMARY KEY, exp INTEGER NOT NULL)');
    ctx.storage.sql.exec('CREATE INDEX IF NOT EXISTS used_exp ON used (exp)');
  }

  /** True the first time `key` is seen (or after its previous use expired); false on a replay. */
  async markUsed(key: string, expiresAt: number, now: number): Promise<boolean> {
    const sql = this.ctx.storage.sql;
    const seen = sql.exec<{ exp: number }>('SELECT exp FROM used WHERE key = ?', key).toArray()[0];
    if (seen !== undefined && seen.exp > now) return false;
    sql.exec('INSERT INTO used (key, exp) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET exp = excluded.exp', key, expiresAt);
    // The decision above is already recorded; the sweep schedule can follow.
    await this.#scheduleSweep(Math.max(expiresAt, now + SWEEP_INTERVAL_SEC));
    return true;
  }

  override async alarm(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM used WHERE exp <= ?', now);
    const next = sql.exec<{ next: number | null }>('SELECT MIN(exp) AS next FROM used').one().next;
    if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, now + SWEEP_INTERVAL_SEC) * 1000);
  }

  async #scheduleSweep(atSec: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > atSec * 1000) await this.ctx.storage.setAlarm(atSec * 1000);
  }
}
