/**
 * Issue 12 item 2: audit lines on Node are written in batches, once per turn of the event loop,
 * and never dropped: a full buffer is written at once and `flush` writes what is left (shutdown).
 */
import { describe, expect, it } from 'vitest';
import { jsonLineAuditSink, type AuditEvent } from '../../src/audit/audit.ts';
import { bufferedLineWriter } from '../../src/audit/line-writer.ts';

function recorder() {
  const writes: string[] = [];
  const queued: (() => void)[] = [];
  return {
    writes,
    queued,
    sink: { write: (chunk: string) => writes.push(chunk) },
    schedule: (fn: () => void) => queued.push(fn),
    turn: () => queued.splice(0).forEach((fn) => fn()),
  };
}

const event = (i: number): AuditEvent => ({
  time: '2026-01-01T00:00:00.000Z',
  request_id: `r${i}`,
  route: '/token',
  outcome: 'issued',
});

describe('issue 12 item 2: the buffered audit line writer', () => {
  it('issue 12 item 2: lines of one turn are written together, in order, one per line', () => {
    const r = recorder();
    const writer = bufferedLineWriter(r.sink, 1 << 20, r.schedule);
    const sink = jsonLineAuditSink(writer.write);
    for (let i = 0; i < 5; i++) sink(event(i));
    expect(r.writes).toEqual([]);
    r.turn();
    expect(r.writes).toHaveLength(1);
    const lines = r.writes[0]!.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l))).toEqual([0, 1, 2, 3, 4].map((i) => ({ type: 'audit', ...event(i) })));
    // The type comes first, as the Workers tests filter lines by their start.
    expect(lines[0]!.startsWith('{"type":"audit",')).toBe(true);
  });

  it('issue 12 item 2: a full buffer is written at once, and flush writes the rest: no line is dropped', () => {
    const r = recorder();
    const writer = bufferedLineWriter(r.sink, 100, r.schedule);
    const lines = Array.from({ length: 50 }, (_, i) => `line-${String(i).padStart(3, '0')}-${'x'.repeat(20)}`);
    for (const l of lines) writer.write(l);
    // Without a single turn of the event loop, most lines are already out; the buffer never holds 100 characters.
    expect(r.writes.length).toBeGreaterThan(10);
    writer.flush();
    expect(r.writes.join('').split('\n').filter(Boolean)).toEqual(lines);
    r.turn();
    expect(r.writes.join('').split('\n').filter(Boolean)).toEqual(lines);
  });
});
