/*
 * The EC2 operations the functions use: snapshots and volumes of our own account. Every call is a
 * single attempt whose errors are translated (shared/aws/errors.ts); wrap calls in `withRetries`
 * (shared/resilience.ts) and pass its AbortSignal through as `signal`.
 */
import {
  CreateSnapshotCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeleteVolumeCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  paginateDescribeSnapshots,
  paginateDescribeVolumes,
} from '@aws-sdk/client-ec2';
import type { EC2Client, Filter } from '@aws-sdk/client-ec2';
import { NotFound } from '../errors.js';
import { callAws } from './errors.js';
import type { SnapshotInfo, SnapshotQuery, VolumeInfo, VolumeQuery } from './ec2-shapes.js';
import {
  FILTER_VALUES_PER_CALL,
  recordToTags,
  snapshotFilters,
  splitFilters,
  toSnapshotInfo,
  toVolumeInfo,
  volumeFilters,
} from './ec2-shapes.js';
import { chunks } from '../chunks.js';

/** Ids asked for, split into what EC2 returned and what it says does not exist. */
export interface ByIds<T> {
  found: T[];
  /**
   * Ids EC2 reported as not existing. EC2 is eventually consistent: a resource created moments ago
   * can be briefly missing, so treat this as evidence only for resources older than a few minutes.
   */
  missingIds: string[];
}

export interface CreateSnapshotInput {
  volumeId: string;
  description: string;
  tags: Record<string, string>;
}

export interface Ec2Api {
  /** @throws NotFound when the volume does not exist */
  createSnapshot(input: CreateSnapshotInput, signal?: AbortSignal): Promise<SnapshotInfo>;
  describeSnapshotsByIds(snapshotIds: readonly string[], signal?: AbortSignal): Promise<ByIds<SnapshotInfo>>;
  /**
   * Our account's snapshots (never public ones) matching every criterion, all pages; criteria with
   * more values than one call may carry (FILTER_VALUES_PER_CALL) are asked in several calls.
   */
  describeSnapshots(query: SnapshotQuery, signal?: AbortSignal): Promise<SnapshotInfo[]>;
  /** @throws NotFound when it is already gone; callers deleting idempotently treat that as done */
  deleteSnapshot(snapshotId: string, signal?: AbortSignal): Promise<void>;
  /** Adds or overwrites tags on snapshots and volumes. @throws NotFound if any resource is gone */
  createTags(resourceIds: readonly string[], tags: Record<string, string>, signal?: AbortSignal): Promise<void>;
  describeVolumesByIds(volumeIds: readonly string[], signal?: AbortSignal): Promise<ByIds<VolumeInfo>>;
  /** Volumes matching every criterion, all pages, in as many calls as describeSnapshots' criteria. */
  describeVolumes(query: VolumeQuery, signal?: AbortSignal): Promise<VolumeInfo[]>;
  /** @throws Conflict while the volume is attached; NotFound when it is already gone */
  deleteVolume(volumeId: string, signal?: AbortSignal): Promise<void>;
}

export interface Ec2Tuning {
  /** Page size for filtered listings (EC2 allows 5–1000 for snapshots, 5–500 for volumes). */
  pageSize?: number;
}

/**
 * EC2 refuses MaxResults together with ids, so id lists are sent in bounded chunks instead; a chunk
 * asked again as an id filter must fit EC2's filter value limit.
 */
const idsPerCall = FILTER_VALUES_PER_CALL;

/**
 * Every page of every call `filters` needs (splitFilters: EC2's filter value limit), each resource
 * once: a resource matching values in two calls is listed by both.
 */
async function listAll<T>(
  filters: Filter[],
  idOf: (item: T) => string,
  pagesOf: (Filters: Filter[]) => AsyncIterable<T[]>,
): Promise<T[]> {
  const found = new Map<string, T>();
  for (const part of splitFilters(filters))
    for await (const page of pagesOf(part)) for (const item of page) found.set(idOf(item), item);
  return [...found.values()];
}

/**
 * Describes ids chunk by chunk. A chunk with an unknown id fails as a whole (NotFound), so it is
 * asked again with an id filter, which skips unknown ids, to learn which ones exist.
 */
async function byIds<T>(
  ids: readonly string[],
  idOf: (item: T) => string,
  exact: (chunk: string[]) => Promise<T[]>,
  filtered: (chunk: string[]) => Promise<T[]>,
): Promise<ByIds<T>> {
  const result: ByIds<T> = { found: [], missingIds: [] };
  for (const chunk of chunks([...new Set(ids)], idsPerCall)) {
    const found = await exact(chunk).catch(async (err: unknown) => {
      if (err instanceof NotFound) return filtered(chunk);
      throw err;
    });
    const foundIds = new Set(found.map(idOf));
    result.found.push(...found);
    result.missingIds.push(...chunk.filter((id) => !foundIds.has(id)));
  }
  return result;
}

const signalOf = (signal?: AbortSignal) => ({ abortSignal: signal });

type SnapshotOps = Pick<
  Ec2Api,
  'createSnapshot' | 'describeSnapshotsByIds' | 'describeSnapshots' | 'deleteSnapshot' | 'createTags'
>;
type VolumeOps = Pick<Ec2Api, 'describeVolumesByIds' | 'describeVolumes' | 'deleteVolume'>;

function snapshotOps(client: EC2Client, pageSize: number): SnapshotOps {
  // Always our own account: without OwnerIds, DescribeSnapshots also lists every public snapshot.
  const listSnapshots = (filters: Filter[], signal?: AbortSignal) =>
    callAws('EC2 DescribeSnapshots', () =>
      listAll<SnapshotInfo>(
        filters,
        (s) => s.snapshotId,
        async function* (Filters) {
          const pages = paginateDescribeSnapshots(
            { client, pageSize },
            { OwnerIds: ['self'], Filters },
            signalOf(signal),
          );
          for await (const page of pages) yield (page.Snapshots ?? []).map(toSnapshotInfo);
        },
      ),
    );
  const exactSnapshots = (SnapshotIds: string[], signal?: AbortSignal) =>
    callAws('EC2 DescribeSnapshots', async () => {
      const out = await client.send(
        new DescribeSnapshotsCommand({ OwnerIds: ['self'], SnapshotIds }),
        signalOf(signal),
      );
      return (out.Snapshots ?? []).map(toSnapshotInfo);
    });
  return {
    createSnapshot: ({ volumeId, description, tags }, signal) =>
      callAws(`EC2 CreateSnapshot ${volumeId}`, async () => {
        const TagSpecifications = [{ ResourceType: 'snapshot' as const, Tags: recordToTags(tags) }];
        const command = new CreateSnapshotCommand({ VolumeId: volumeId, Description: description, TagSpecifications });
        return toSnapshotInfo(await client.send(command, signalOf(signal)));
      }),
    describeSnapshotsByIds: (snapshotIds, signal) =>
      byIds(
        snapshotIds,
        (s) => s.snapshotId,
        (chunk) => exactSnapshots(chunk, signal),
        (chunk) => listSnapshots([{ Name: 'snapshot-id', Values: chunk }], signal),
      ),
    describeSnapshots: (query, signal) => listSnapshots(snapshotFilters(query), signal),
    deleteSnapshot: (snapshotId, signal) =>
      callAws(`EC2 DeleteSnapshot ${snapshotId}`, async () => {
        await client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }), signalOf(signal));
      }),
    createTags: (resourceIds, tags, signal) =>
      callAws(`EC2 CreateTags ${resourceIds.join(',')}`, async () => {
        await client.send(
          new CreateTagsCommand({ Resources: [...resourceIds], Tags: recordToTags(tags) }),
          signalOf(signal),
        );
      }),
  };
}

function volumeOps(client: EC2Client, pageSize: number): VolumeOps {
  const listVolumes = (filters: Filter[], signal?: AbortSignal) =>
    callAws('EC2 DescribeVolumes', () =>
      listAll<VolumeInfo>(
        filters,
        (v) => v.volumeId,
        async function* (Filters) {
          for await (const page of paginateDescribeVolumes({ client, pageSize }, { Filters }, signalOf(signal)))
            yield (page.Volumes ?? []).map(toVolumeInfo);
        },
      ),
    );
  const exactVolumes = (VolumeIds: string[], signal?: AbortSignal) =>
    callAws('EC2 DescribeVolumes', async () => {
      const out = await client.send(new DescribeVolumesCommand({ VolumeIds }), signalOf(signal));
      return (out.Volumes ?? []).map(toVolumeInfo);
    });
  return {
    describeVolumesByIds: (volumeIds, signal) =>
      byIds(
        volumeIds,
        (v) => v.volumeId,
        (chunk) => exactVolumes(chunk, signal),
        (chunk) => listVolumes([{ Name: 'volume-id', Values: chunk }], signal),
      ),
    describeVolumes: (query, signal) => listVolumes(volumeFilters(query), signal),
    deleteVolume: (volumeId, signal) =>
      callAws(`EC2 DeleteVolume ${volumeId}`, async () => {
        await client.send(new DeleteVolumeCommand({ VolumeId: volumeId }), signalOf(signal));
      }),
  };
}

export function createEc2Api(client: EC2Client, tuning: Ec2Tuning = {}): Ec2Api {
  const pageSize = tuning.pageSize ?? 500;
  return { ...snapshotOps(client, pageSize), ...volumeOps(client, pageSize) };
}
