/*
 * Our small EC2 shapes and their mapping from and to the SDK's. Callers never see SDK types, so a
 * field EC2 leaves out is caught here once instead of as `undefined` deep in a function.
 */
import type { Filter, Snapshot, Tag, Volume } from '@aws-sdk/client-ec2';
import { chunks } from '../chunks.js';
import { Fatal } from '../errors.js';

export type SnapshotState = 'pending' | 'completed' | 'error' | 'recoverable' | 'recovering';
export type VolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error';
export type AttachmentState = 'attaching' | 'attached' | 'detaching' | 'detached' | 'busy';

export interface SnapshotInfo {
  snapshotId: string;
  volumeId: string;
  state: SnapshotState;
  startTime: Date;
  tags: Record<string, string>;
  volumeSizeGiB: number;
  /** Empty when EC2 gave none. */
  description: string;
}

export interface VolumeInfo {
  volumeId: string;
  state: VolumeState;
  /** Instance ids of current attachments; empty when the volume is detached. */
  attachedTo: string[];
  /** The state of each attachment EC2 listed (a detached one may linger in the list). */
  attachmentStates: AttachmentState[];
  tags: Record<string, string>;
  sizeGiB: number;
}

/** Tag criteria, ANDed: every `tags` entry must match (an array means any of these values). */
export interface TagQuery {
  tags?: Record<string, string | string[]>;
  /** The resource has each of these tag keys, whatever the value. */
  tagKeys?: string[];
}

export interface SnapshotQuery extends TagQuery {
  states?: SnapshotState[];
  volumeIds?: string[];
}

export interface VolumeQuery extends TagQuery {
  states?: VolumeState[];
  volumeIds?: string[];
}

function present<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Fatal(`EC2 answered without ${what}`);
  return value;
}

export function tagsToRecord(tags: Tag[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const { Key, Value } of tags ?? []) if (Key !== undefined) record[Key] = Value ?? '';
  return record;
}

export function recordToTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

export function toSnapshotInfo(s: Snapshot): SnapshotInfo {
  const snapshotId = present(s.SnapshotId, 'a SnapshotId');
  return {
    snapshotId,
    volumeId: present(s.VolumeId, `the VolumeId of ${snapshotId}`),
    state: present(s.State, `the State of ${snapshotId}`),
    startTime: present(s.StartTime, `the StartTime of ${snapshotId}`),
    tags: tagsToRecord(s.Tags),
    volumeSizeGiB: present(s.VolumeSize, `the VolumeSize of ${snapshotId}`),
    description: s.Description ?? '',
  };
}

export function toVolumeInfo(v: Volume): VolumeInfo {
  const volumeId = present(v.VolumeId, 'a VolumeId');
  return {
    volumeId,
    state: present(v.State, `the State of ${volumeId}`),
    attachedTo: (v.Attachments ?? []).flatMap((a) => (a.InstanceId === undefined ? [] : [a.InstanceId])),
    // An attachment without a state is read as attached: never as detached.
    attachmentStates: (v.Attachments ?? []).map((a) => a.State ?? 'attached'),
    tags: tagsToRecord(v.Tags),
    sizeGiB: present(v.Size, `the Size of ${volumeId}`),
  };
}

/** EC2 reads `*` and `?` in filter values as wildcards; our values are literal. */
function literal(value: string): string {
  return value.replace(/[\\*?]/g, '\\$&');
}

export function tagFilters(query: TagQuery): Filter[] {
  const byValue = Object.entries(query.tags ?? {}).map(([key, value]) => ({
    Name: `tag:${key}`,
    Values: (Array.isArray(value) ? value : [value]).map(literal),
  }));
  const byKey = (query.tagKeys ?? []).map((key) => ({ Name: 'tag-key', Values: [literal(key)] }));
  return [...byValue, ...byKey];
}

/**
 * EC2 refuses a Describe call whose filters carry more than this many values in all, whatever
 * filters they are in (FilterLimitExceeded, HTTP 400: "The maximum number of filter values
 * specified on a single call is 200").
 */
export const FILTER_VALUES_PER_CALL = 200;

/**
 * `filters` as the calls EC2 accepts: one call when their values fit, else the filter with the most
 * values is split across calls, each carrying the other filters whole. A filter's values are ORed,
 * so the union of the calls' answers is the answer to `filters`.
 */
export function splitFilters(filters: Filter[]): Filter[][] {
  const sizes = filters.map((filter) => filter.Values?.length ?? 0);
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (total <= FILTER_VALUES_PER_CALL) return [filters];
  const widest = sizes.indexOf(Math.max(...sizes));
  const room = FILTER_VALUES_PER_CALL - (total - sizes[widest]!);
  if (room < 1)
    throw new Fatal(`${total} EC2 filter values cannot be split into calls of ${FILTER_VALUES_PER_CALL} values`);
  return chunks(filters[widest]!.Values!, room).map((part) =>
    filters.map((filter, index) => (index === widest ? { ...filter, Values: part } : filter)),
  );
}

export function snapshotFilters(query: SnapshotQuery): Filter[] {
  const filters = tagFilters(query);
  if (query.states) filters.push({ Name: 'status', Values: query.states });
  if (query.volumeIds) filters.push({ Name: 'volume-id', Values: query.volumeIds });
  return filters;
}

export function volumeFilters(query: VolumeQuery): Filter[] {
  const filters = tagFilters(query);
  if (query.states) filters.push({ Name: 'status', Values: query.states });
  if (query.volumeIds) filters.push({ Name: 'volume-id', Values: query.volumeIds });
  return filters;
}
