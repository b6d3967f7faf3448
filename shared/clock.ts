/*
 * The one place that reads the wall clock (DESIGN.md habit 2). Everything else takes `now` from a
 * Clock passed in, so tests move time by hand instead of sleeping.
 */
export interface Clock {
  now(): Date;
  /**
   * Resolves once now() has reached `at`. Absent on a clock nobody moves while a run waits (a
   * ManualClock, moved by its test between runs): such a clock cannot be waited on.
   */
  waitUntil?(at: Date): Promise<void>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  waitUntil: (at) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at.getTime() - Date.now()))),
};

/** A clock that only moves when told to; for tests, the simulator and benchmarks. */
export class ManualClock implements Clock {
  private currentMs: number;

  constructor(start: Date | string = '2026-01-01T00:00:00Z') {
    this.currentMs = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.currentMs);
  }

  set(at: Date | string): void {
    this.currentMs = new Date(at).getTime();
  }

  advanceSeconds(seconds: number): void {
    this.currentMs += seconds * 1000;
  }

  advanceMinutes(minutes: number): void {
    this.advanceSeconds(minutes * 60);
  }
}
