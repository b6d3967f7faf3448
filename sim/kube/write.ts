/*
 * create, replace, patch and delete, with the API server's checks: names, the namespace on the
 * path, optimistic concurrency on resourceVersion, delete preconditions, and graceful pod deletion.
 * Server-owned metadata (uid, creationTimestamp, resourceVersion, deletion marks) can never be set
 * by a client, and a pod's status only changes through the scenario API (the kubelet's job).
 */
import { randomBytes } from 'node:crypto';
import type { KubeContext, Target } from './context.js';
import { listBody, select } from './read.js';
import { apiVersionOf } from './resources.js';
import type { KubeObject, NewObject, ObjectMeta } from './store.js';
import { KubeApiError, badRequest, notFound, statusBody } from './status.js';

type Json = Record<string, unknown>;

const serverOwned = [
  'uid',
  'resourceVersion',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
  'managedFields',
];
const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(target: Target, name: string, field: string, message: string): KubeApiError {
  const cause = { reason: 'FieldValueInvalid', message, field };
  const details = { name, kind: target.type.kind, causes: [cause] };
  return new KubeApiError(
    statusBody(422, `${target.type.kind} "${name}" is invalid: ${field}: ${message}`, 'Invalid', details),
  );
}

function conflict(target: Target, name: string, why: string): KubeApiError {
  const details = { name, kind: target.type.plural };
  return new KubeApiError(
    statusBody(409, `Operation cannot be fulfilled on ${target.type.plural} "${name}": ${why}`, 'Conflict', details),
  );
}

function clientMetadata(meta: Json): Json {
  return Object.fromEntries(Object.entries(meta).filter(([key]) => !serverOwned.includes(key)));
}

function nameFor(target: Target, meta: Json): string {
  const name =
    typeof meta.name === 'string' && meta.name
      ? meta.name
      : typeof meta.generateName === 'string' && meta.generateName
        ? `${meta.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`
        : undefined;
  if (name === undefined)
    throw invalid(target, '', 'metadata.name', 'Required value: name or generateName is required');
  if (!dns1123.test(name) || name.length > 253)
    throw invalid(target, name, 'metadata.name', `Invalid value: "${name}": must be a lowercase RFC 1123 subdomain`);
  return name;
}

function checkNamespace(ctx: KubeContext, target: Target, meta: Json): void {
  if (!target.type.namespaced) return;
  if (meta.namespace !== undefined && meta.namespace !== target.namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  if (!ctx.store.get('namespaces', undefined, target.namespace!)) throw notFound('namespaces', target.namespace!);
}

function checkPodSpec(target: Target, name: string, body: Json): void {
  const containers = isObject(body.spec) ? body.spec.containers : undefined;
  if (!Array.isArray(containers) || containers.length === 0)
    throw invalid(target, name, 'spec.containers', 'Required value');
  if (!containers.every((c) => isObject(c) && typeof c.name === 'string' && c.name))
    throw invalid(target, name, 'spec.containers[].name', 'Required value');
}

export function createObject(ctx: KubeContext, target: Target, body: unknown): KubeObject {
  if (!isObject(body)) throw badRequest('the body of the request was in an unknown format');
  if (body.kind !== undefined && body.kind !== target.type.kind)
    throw badRequest(`${String(body.kind)} in version "v1" cannot be handled as a ${target.type.kind}`);
  const meta = isObject(body.metadata) ? body.metadata : {};
  const name = nameFor(target, meta);
  checkNamespace(ctx, target, meta);
  const metadata = { ...clientMetadata(meta), name, ...(target.type.namespaced && { namespace: target.namespace }) };
  const object = { ...body, apiVersion: apiVersionOf(target.type), kind: target.type.kind, metadata } as NewObject;
  if (target.type.plural !== 'pods') return ctx.store.create(target.type.plural, object);
  checkPodSpec(target, name, body);
  return ctx.pods.create(object);
}

/** Keeps what the server owns from `current`; a stale resourceVersion in `next` is a 409. */
function carryOver(target: Target, current: KubeObject, next: Json): KubeObject {
  const meta = isObject(next.metadata) ? next.metadata : {};
  if (meta.resourceVersion !== undefined && meta.resourceVersion !== current.metadata.resourceVersion) {
    throw conflict(
      target,
      current.metadata.name,
      'the object has been modified; please apply your changes to the latest version and try again',
    );
  }
  const kept = Object.fromEntries(
    serverOwned.map((key) => [key, current.metadata[key]]).filter(([, value]) => value !== undefined),
  );
  const metadata = {
    ...clientMetadata(meta),
    name: current.metadata.name,
    namespace: current.metadata.namespace,
    ...kept,
  } as ObjectMeta;
  const status = target.type.plural === 'pods' ? { status: current.status } : {};
  return { ...next, apiVersion: current.apiVersion, kind: current.kind, metadata, ...status };
}

export function replaceObject(ctx: KubeContext, target: Target, current: KubeObject, body: unknown): KubeObject {
  if (!isObject(body)) throw badRequest('the body of the request was in an unknown format');
  const name = isObject(body.metadata) ? body.metadata.name : undefined;
  if (name !== target.name)
    throw badRequest(`the name of the object (${String(name)}) does not match the name on the URL (${target.name})`);
  return ctx.store.update(target.type.plural, carryOver(target, current, body));
}

function mergePatch(base: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const result: Json = isObject(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

const mergeTypes = ['application/merge-patch+json', 'application/strategic-merge-patch+json'];

/** Strategic merge patches are applied as JSON merge patches: lists are replaced, not merged. */
export function patchObject(
  ctx: KubeContext,
  target: Target,
  current: KubeObject,
  body: unknown,
  contentType: string,
): KubeObject {
  if (!mergeTypes.includes(contentType.split(';')[0]!.trim())) {
    throw new KubeApiError(
      statusBody(
        415,
        `the simulator applies merge patches only, not ${contentType || 'an unnamed patch type'}`,
        'UnsupportedMediaType',
      ),
    );
  }
  if (!isObject(body)) throw badRequest('the body of the request was in an unknown format');
  return ctx.store.update(target.type.plural, carryOver(target, current, mergePatch(current, body) as Json));
}

function graceFrom(query: URLSearchParams, body: unknown): number | undefined {
  const text = query.get('gracePeriodSeconds');
  if (text !== null && text !== '') {
    if (!/^-?\d+$/.test(text)) throw badRequest(`gracePeriodSeconds: Invalid value: "${text}"`);
    return Number(text);
  }
  return isObject(body) && typeof body.gracePeriodSeconds === 'number' ? body.gracePeriodSeconds : undefined;
}

function checkPreconditions(target: Target, current: KubeObject, body: unknown): void {
  const pre = isObject(body) && isObject(body.preconditions) ? body.preconditions : {};
  const { uid, resourceVersion } = current.metadata;
  if (pre.uid !== undefined && pre.uid !== uid)
    throw conflict(
      target,
      current.metadata.name,
      `Precondition failed: UID in precondition: ${String(pre.uid)}, UID in object meta: ${uid}`,
    );
  if (pre.resourceVersion !== undefined && pre.resourceVersion !== resourceVersion) {
    throw conflict(
      target,
      current.metadata.name,
      `Precondition failed: ResourceVersion in precondition: ${String(pre.resourceVersion)}, ResourceVersion in object meta: ${resourceVersion}`,
    );
  }
}

/** Deleting a namespace removes what is in it at once; the simulator has no Terminating phase for namespaces. */
function removeNamespace(ctx: KubeContext, name: string): KubeObject {
  for (const pod of ctx.store.list('pods', name)) ctx.pods.removeNow({ namespace: name, name: pod.metadata.name });
  for (const plural of ['services', 'events', 'ingresses']) {
    for (const object of ctx.store.list(plural, name)) ctx.store.remove(plural, name, object.metadata.name);
  }
  return ctx.store.remove('namespaces', undefined, name);
}

export function deleteObject(
  ctx: KubeContext,
  target: Target,
  current: KubeObject,
  query: URLSearchParams,
  body: unknown,
): KubeObject {
  checkPreconditions(target, current, body);
  const { namespace, name } = current.metadata;
  if (target.type.plural === 'pods') return ctx.pods.delete({ namespace: namespace!, name }, graceFrom(query, body));
  if (target.type.plural === 'namespaces') return removeNamespace(ctx, name);
  return ctx.store.remove(target.type.plural, namespace, name);
}

export function deleteCollection(ctx: KubeContext, target: Target, query: URLSearchParams, body: unknown): object {
  const deleted = select(ctx, target, query).map((object) => deleteObject(ctx, target, object, query, body));
  return listBody(target, deleted, ctx.store.currentVersion());
}
