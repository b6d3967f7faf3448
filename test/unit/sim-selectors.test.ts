/*
 * Label and field selectors as the API server parses them, including the ones it refuses.
 */
import { describe, expect, it } from 'vitest';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../sim/kube/selectors.js';
import { KubeApiError } from '../../sim/kube/status.js';

const labels = { app: 'gpu', tier: 'fe', 'devenv.example.com/reservation': 'r-1' };

describe('label selectors', () => {
  it.each([
    ['', true],
    ['app=gpu', true],
    ['app==gpu', true],
    ['app = gpu', true],
    ['app!=gpu', false],
    ['app!=lab', true],
    ['tier', true],
    ['zone', false],
    ['!zone', true],
    ['!tier', false],
    ['tier in (fe, be)', true],
    ['tier in (be)', false],
    ['tier notin (be)', true],
    ['zone notin (a)', true],
    ['zone in (a)', false],
    ['app=gpu,tier in (fe,be),!zone', true],
    ['app=gpu,tier=be', false],
    ['devenv.example.com/reservation=r-1', true],
    ['app=', false],
  ])('%j matches: %s', (selector, expected) => {
    expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(expected);
  });

  it('matches an empty value only where the label is absent or empty', () => {
    expect(matchesLabels(parseLabelSelector('app='), { app: '' })).toBe(true);
    expect(matchesLabels(parseLabelSelector('app!=x'), undefined)).toBe(true);
  });

  it.each(['app=a=b', 'in (a)', 'Bad Key=x', 'app=not valid', 'k in (a', '=x'])('refuses %j with a 400', (selector) => {
    let thrown: unknown;
    try {
      parseLabelSelector(selector);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(KubeApiError);
    expect((thrown as KubeApiError).status).toMatchObject({ code: 400, reason: 'BadRequest' });
  });
});

describe('field selectors', () => {
  const pod = { metadata: { name: 'p', namespace: 'dev' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
  const allowed = ['metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase', 'status.podIP'];

  it.each([
    ['status.phase=Running', true],
    ['status.phase==Running', true],
    ['status.phase!=Running', false],
    ['metadata.name=p,spec.nodeName=n1', true],
    ['metadata.name=p,spec.nodeName=n2', false],
    ['status.podIP=', true],
    ['status.podIP!=', false],
  ])('%j matches: %s', (selector, expected) => {
    expect(matchesFields(parseFieldSelector(selector, allowed), pod)).toBe(expected);
  });

  it("resolves an event's source to its component", () => {
    const event = { source: { component: 'kubelet' } };
    expect(matchesFields(parseFieldSelector('source=kubelet', ['source']), event)).toBe(true);
  });

  it("refuses a field the resource does not index, with the server's message", () => {
    expect(() => parseFieldSelector('spec.hostname=x', allowed)).toThrow('field label not supported: spec.hostname');
    expect(() => parseFieldSelector('status.phase', allowed)).toThrow(/invalid selector/);
  });
});
