/*
 * A process that ignores SIGTERM and has started a grandchild that ignores it too: what a test
 * leaves behind when it times out while a child is hung. Used to prove the testkit ends both.
 */
import { once } from 'node:events';
import { spawnTracked } from './processes.js';

// Each says so on stdout once its handler is in place, so the pids are only reported when both ignore SIGTERM.
const IGNORE_TERM = "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready');";
const TREE = `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);
const grandchild = require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(IGNORE_TERM)}], { stdio: ['ignore', 'pipe', 'ignore'] });
grandchild.stdout.once('data', () => console.log(JSON.stringify({ child: process.pid, grandchild: grandchild.pid })));`;

export interface StubbornTree {
  child: number;
  grandchild: number;
}

/** Starts the tree through spawnTracked() and resolves with both pids once the grandchild runs. */
export async function startStubbornTree(): Promise<StubbornTree> {
  const leader = spawnTracked(process.execPath, ['-e', TREE], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(leader.stdout!, 'data')) as [Buffer];
  return JSON.parse(line.toString('utf8')) as StubbornTree;
}
