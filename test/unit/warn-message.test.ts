import { describe, expect, it } from 'vitest';
import {
  broadcastText,
  extendCommand,
  printable,
  shellWord,
  warningFileContent,
  warningFileName,
} from '../../functions/warn/message.js';
import { execTracked } from '../support/processes.js';

const base = {
  reservationId: '0123abcd-1111-2222-3333-444455556666',
  expiresAt: new Date('2026-06-01T12:30:00Z'),
  now: new Date('2026-06-01T12:16:00Z'),
};

describe('warning text', () => {
  it('names the file with whole minutes, digits only, never negative (A-23)', () => {
    expect(warningFileName(14)).toBe('/home/dev/WARN_EXPIRES_IN_14MIN.txt');
    expect(warningFileName(0)).toBe('/home/dev/WARN_EXPIRES_IN_0MIN.txt');
    expect(warningFileName(-1)).toBe('/home/dev/WARN_EXPIRES_IN_0MIN.txt');
    expect(warningFileName(-1)).toMatch(/WARN_EXPIRES_IN_\d+MIN\.txt$/);
  });

  it('has the banner, the time left, the exact UTC expiry, advice and the extend hint', () => {
    const content = warningFileContent({ ...base, minutesLeft: 14 });
    expect(content).toContain('EXPIRY WARNING');
    expect(content).toContain('NOTICE: reservation 0123abcd expires in 14 minutes.');
    expect(content).toContain('Time remaining: 14 minutes');
    expect(content).toContain('Expires at:     2026-06-01 12:30:00 UTC');
    expect(content).toContain('Save your work');
    expect(content).toContain('gpu-dev extend 0123abcd-1111-2222-3333-444455556666');
  });

  it.each([
    [29, 'INFO'],
    [15, 'NOTICE'],
    [5, 'WARNING'],
    [1, 'WARNING: reservation 0123abcd expires in 1 minute!'],
    [0, 'URGENT: reservation 0123abcd expires in less than 1 minute!'],
  ])('uses the origin bands: %i minutes -> %s', (minutesLeft, expected) => {
    expect(broadcastText({ ...base, minutesLeft })).toContain(expected);
  });
});

describe('ids in user-visible text (issue 14)', () => {
  const hostile = `ab'cd$(touch /tmp/x)\`id\` ;rm -rf ~\n\u001b[2Jfake line\u0007`;
  const text = { ...base, reservationId: hostile, minutesLeft: 5 };

  it('quotes the id in the copy-paste extend command so the shell reads it as one literal word', async () => {
    const line = warningFileContent(text)
      .split('\n')
      .find((l) => l.includes('gpu-dev extend'))!;
    const word = line.trim().slice('gpu-dev extend '.length);
    const { stdout: echoed } = await execTracked('sh', ['-c', `printf '%s|' ${word}`]);
    expect(echoed).toBe(`${printable(hostile)}|`);
    expect(echoed).not.toContain('\n');
  });

  it('strips control characters (newline, ESC, BEL) from the file, the wall line and the headline', () => {
    const content = warningFileContent(text);
    const wall = broadcastText(text);
    for (const out of [content, wall]) {
      expect(out.replace(/\n/g, '')).not.toMatch(/\p{Cc}/u);
      expect(out).not.toContain('fake line\n');
    }
    expect(wall.trimEnd()).not.toContain('\n');
    expect(wall).toContain(`gpu-dev extend ${shellWord(hostile)}`);
  });

  it('leaves an ordinary id bare, and quotes an empty or quote-only id', async () => {
    expect(extendCommand('0123abcd-1111-2222-3333-444455556666')).toBe(
      'gpu-dev extend 0123abcd-1111-2222-3333-444455556666',
    );
    expect(shellWord('')).toBe(`''`);
    expect((await execTracked('sh', ['-c', `printf '%s' ${shellWord(`'`)}`])).stdout).toBe(`'`);
  });
});
