import { describe, expect, it } from 'vitest';
import { isLabelValue, ownerSelector, ownershipOf, selectsOwnedPod } from '../../shared/kube/ownership.js';

const owner = { key: 'reservation-id', id: 'r1' };
const pod = (metadata: Record<string, unknown>, spec?: object) => ({
  metadata: { uid: 'u1', ...metadata },
  ...(spec && { spec }),
});

describe('isLabelValue and ownerSelector', () => {
  it.each([
    ['a UUID', 'c0ffee00-0000-4000-8000-000000000000', true],
    ['63 characters', 'a'.repeat(63), true],
    ['64 characters', 'a'.repeat(64), false],
    ['empty', '', false],
    ['a space', 'a b', false],
    ['a quote', 'a"b', false],
    ['a dollar', 'a$b', false],
    ['a newline', 'a\nb', false],
    ['a leading dash', '-ab', false],
    ['dots and underscores inside', 'a._-b', true],
  ])('%s: %s', (_name, value, expected) => {
    expect(isLabelValue(value)).toBe(expected);
    expect(ownerSelector({ key: 'reservation-id', id: value })).toBe(expected ? `reservation-id=${value}` : undefined);
  });
});

describe('ownershipOf', () => {
  it('owns an object labelled with the id, or annotated with it when it cannot be a label', () => {
    expect(ownershipOf(pod({ labels: { 'reservation-id': 'r1' } }), owner)).toEqual({
      verdict: 'owned',
      uid: 'u1',
      deleting: false,
    });
    expect(
      ownershipOf(pod({ annotations: { 'reservation-id': 'x\n"$ y' } }), { key: 'reservation-id', id: 'x\n"$ y' }),
    ).toMatchObject({ verdict: 'owned' });
    expect(
      ownershipOf(pod({ labels: { 'reservation-id': 'r1' }, deletionTimestamp: '2026-01-01T00:00:00Z' }), owner),
    ).toMatchObject({ deleting: true });
  });

  it('never owns an object that names another entity, none, or two', () => {
    expect(ownershipOf(pod({ labels: { 'reservation-id': 'r2' } }), owner)).toEqual({
      verdict: 'foreign',
      claimedBy: 'r2',
    });
    expect(ownershipOf(pod({ labels: { app: 'x' } }), owner)).toEqual({ verdict: 'unowned' });
    expect(ownershipOf(pod({}), owner)).toEqual({ verdict: 'unowned' });
    expect(
      ownershipOf(pod({ labels: { 'reservation-id': 'r1' }, annotations: { 'reservation-id': 'r2' } }), owner),
    ).toEqual({ verdict: 'foreign', claimedBy: 'r2' });
    // A prefix is not the id (pod names come from 8 characters of it).
    expect(ownershipOf(pod({ labels: { 'reservation-id': 'r1-longer' } }), owner)).toMatchObject({
      verdict: 'foreign',
    });
  });

  it('does not own an object without a uid: the delete could not be pinned to it', () => {
    expect(ownershipOf({ metadata: { labels: { 'reservation-id': 'r1' } } }, owner)).toEqual({ verdict: 'unowned' });
  });

  it('owns a service whose selector names the id under the owner key', () => {
    expect(ownershipOf(pod({}, { selector: { 'reservation-id': 'r1' } }), owner)).toMatchObject({ verdict: 'owned' });
    expect(ownershipOf(pod({}, { selector: { 'reservation-id': 'r2' } }), owner)).toMatchObject({ verdict: 'foreign' });
  });
});

describe('selectsOwnedPod', () => {
  const podLabels = { 'reservation-id': 'r1', reservation: 'gpu-dev-r1' };
  it('is true only for a non-empty selector that the proven pod satisfies', () => {
    expect(selectsOwnedPod({ spec: { selector: { reservation: 'gpu-dev-r1' } } }, podLabels)).toBe(true);
    expect(selectsOwnedPod({ spec: { selector: { reservation: 'gpu-dev-r2' } } }, podLabels)).toBe(false);
    expect(selectsOwnedPod({ spec: { selector: {} } }, podLabels)).toBe(false);
    expect(selectsOwnedPod({ spec: {} }, podLabels)).toBe(false);
    expect(selectsOwnedPod({ spec: { selector: { reservation: 'gpu-dev-r1' } } }, undefined)).toBe(false);
  });
});
