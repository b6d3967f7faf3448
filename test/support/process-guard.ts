/*
 * Setup file: processes spawned through spawnTracked() inside a test (its beforeEach included) are
 * ended when that test ends, whether it passed, failed or timed out; those spawned in beforeAll
 * when the file ends; any still there when the worker exits, at exit.
 */
import { afterAll, afterEach, beforeEach, inject } from 'vitest';
import { endTracked, endTrackedAtExit, enterScope, useRegistry } from './processes.js';

useRegistry(inject('processRegistry'));
beforeEach(() => enterScope('test'));
afterEach(async () => {
  enterScope('file');
  await endTracked('test');
});
afterAll(() => endTracked('all'));
endTrackedAtExit();
