import { describe, expect, it } from 'vitest';
import { InFlightWindow } from '../../src/ingest/in-flight-window.ts';

/** A promise and its resolver. */
function gate() {
  let open = () => {};
  const done = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { done, open };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('InFlightWindow', () => {
  it('at capacity waits for the OLDEST batch, even when a younger one has settled', async () => {
    const w = new InFlightWindow();
    const oldest = gate();
    const younger = gate();
    w.add(oldest.done);
    w.add(younger.done);
    let below = false;
    const waiting = w.below(2).then(() => {
      below = true;
    });
    younger.open();
    await tick();
    // One slot is free, but the oldest is still in flight: a third batch would not be consecutive.
    expect(w.size).toBe(1);
    expect(below).toBe(false);
    oldest.open();
    await waiting;
    expect(below).toBe(true);
    expect(w.size).toBe(0);
  });

  it('forgets a batch that rejects instead of failing the waits', async () => {
    const w = new InFlightWindow();
    const failing = Promise.reject(new Error('boom'));
    w.add(failing);
    await w.settled();
    expect(w.size).toBe(0);
    await expect(failing).rejects.toThrow('boom');
  });
});
