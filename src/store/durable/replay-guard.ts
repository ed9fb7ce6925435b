/**
 * The Durable Object behind the Workers replay store: one shard of "which proof ids were spent,
 * until when". Strongly consistent because a key always lands in the same object (./shard.ts) and
 * `markUsed` reads and writes SQLite synchronously, with no await between the check and the write,
 * so no other call on this object can interleave. Its answer leaves only after the write is durable
 * (the output gate). Each partition (issuer) has a quota in this shard, counted in `parts`. An alarm
 * deletes expired rows.
 */
import { DurableObject } from 'cloudflare:workers';
import { SWEEP_INTERVAL_SEC } from './constants.ts';

/** 'full': this partition's quota in this shard is used up; the caller reports the store unavailable. */
export type GuardAnswer = 'fresh' | 'replayed' | 'full';

export class ReplayGuard extends DurableObject<unknown> {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec('CREATE TABLE IF NOT EXISTS used (key TEXT PRIMARY KEY, exp INTEGER NOT NULL)');
    sql.exec('CREATE INDEX IF NOT EXISTS used_exp ON used (exp)');
    // Objects created before partitions existed have no `part` column: add it once (their rows count for '').
    if (
      !sql
        .exec<{ name: string }>("SELECT name FROM pragma_table_info('used')")
        .toArray()
        .some((c) => c.name === 'part')
    ) {
      sql.exec("ALTER TABLE used ADD COLUMN part TEXT NOT NULL DEFAULT ''");
    }
    sql.exec('CREATE TABLE IF NOT EXISTS parts (part TEXT PRIMARY KEY, n INTEGER NOT NULL)');
  }

  /**
   * 'fresh' the first time `key` is seen (or after its previous use expired), 'replayed' on a replay,
   * 'full' when `partition` already holds `maxPerPartition` keys here. Nothing is written unless fresh.
   */
  async markUsed(
    key: string,
    expiresAt: number,
    now: number,
    partition = '',
    maxPerPartition = Number.MAX_SAFE_INTEGER,
  ): Promise<GuardAnswer> {
    const sql = this.ctx.storage.sql;
    const seen = sql.exec<{ exp: number }>('SELECT exp FROM used WHERE key = ?', key).toArray()[0];
    if (seen !== undefined && seen.exp > now) return 'replayed';
    if (seen === undefined) {
      const count = sql.exec<{ n: number }>('SELECT n FROM parts WHERE part = ?', partition).toArray()[0]?.n ?? 0;
      if (count >= maxPerPartition) return 'full';
      sql.exec('INSERT INTO parts (part, n) VALUES (?, 1) ON CONFLICT (part) DO UPDATE SET n = n + 1', partition);
    }
    // An expired row not yet swept is reused in place: it is already counted.
    sql.exec(
      'INSERT INTO used (key, exp, part) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET exp = excluded.exp',
      key,
      expiresAt,
      partition,
    );
    // The decision above is already recorded; the sweep schedule can follow.
    await this.#scheduleSweep(Math.max(expiresAt, now + SWEEP_INTERVAL_SEC));
    return 'fresh';
  }

  /** Read-only: true while `key` is recorded and unexpired. */
  async isUsed(key: string, now: number): Promise<boolean> {
    const seen = this.ctx.storage.sql.exec<{ exp: number }>('SELECT exp FROM used WHERE key = ?', key).toArray()[0];
    return seen !== undefined && seen.exp > now;
  }

  override async alarm(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const sql = this.ctx.storage.sql;
    for (const { part, n } of sql
      .exec<{ part: string; n: number }>('SELECT part, COUNT(*) AS n FROM used WHERE exp <= ? GROUP BY part', now)
      .toArray()) {
      sql.exec('UPDATE parts SET n = MAX(0, n - ?) WHERE part = ?', n, part);
    }
    sql.exec('DELETE FROM parts WHERE n = 0');
    sql.exec('DELETE FROM used WHERE exp <= ?', now);
    const next = sql.exec<{ next: number | null }>('SELECT MIN(exp) AS next FROM used').one().next;
    if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, now + SWEEP_INTERVAL_SEC) * 1000);
  }

  async #scheduleSweep(atSec: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > atSec * 1000) await this.ctx.storage.setAlarm(atSec * 1000);
  }
}
