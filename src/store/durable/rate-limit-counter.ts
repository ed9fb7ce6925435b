/**
 * The Durable Object behind the Workers rate limiter: fixed one-minute windows per key, the same
 * semantics as MemoryRateLimiter (src/limits/rate-limiter.ts) but shared by every isolate. The count is read and
 * written synchronously, so concurrent hits on one key are counted exactly. An alarm drops old windows.
 */
import { DurableObject } from 'cloudflare:workers';
import { SWEEP_INTERVAL_SEC } from './constants.ts';

export type HitResult = { allowed: true } | { allowed: false; retryAfterSec: number };

export class RateLimitCounter extends DurableObject<unknown> {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env);
    ctx.storage.sql.exec(
      'CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, win INTEGER NOT NULL, count INTEGER NOT NULL)',
    );
  }

  async hit(key: string, limitPerMinute: number, now: number): Promise<HitResult> {
    const win = Math.floor(now / 60);
    const sql = this.ctx.storage.sql;
    const row = sql.exec<{ win: number; count: number }>('SELECT win, count FROM hits WHERE key = ?', key).toArray()[0];
    const count = row !== undefined && row.win === win ? row.count + 1 : 1;
    sql.exec(
      'INSERT INTO hits (key, win, count) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET win = excluded.win, count = excluded.count',
      key,
      win,
      count,
    );
    if ((await this.ctx.storage.getAlarm()) === null)
      await this.ctx.storage.setAlarm((win + 1) * 60_000 + SWEEP_INTERVAL_SEC * 1000);
    return count > limitPerMinute ? { allowed: false, retryAfterSec: (win + 1) * 60 - now } : { allowed: true };
  }

  override async alarm(): Promise<void> {
    const win = Math.floor(Date.now() / 60_000);
    const sql = this.ctx.storage.sql;
    sql.exec('DELETE FROM hits WHERE win < ?', win);
    const left = sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM hits').one().n;
    if (left > 0) await this.ctx.storage.setAlarm((win + 1) * 60_000 + SWEEP_INTERVAL_SEC * 1000);
  }
}
