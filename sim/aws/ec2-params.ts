/*
 * Reading EC2 Query parameters. The SDK flattens lists as `Name.1`, `Name.2`, … and structures as
 * `Name.N.Member`; a gap ends the list, as in the real service.
 */
import { Ec2Error } from './ec2-error.js';

export type Ec2Params = ReadonlyMap<string, string>;

export interface Ec2Filter {
  name: string;
  values: string[];
}

export interface Ec2Tag {
  key: string;
  value: string;
}

export function parseForm(body: string): Map<string, string> {
  return new Map(new URLSearchParams(body));
}

/** `prefix.1`, `prefix.2`, … (or `prefix.1.suffix`, …) until the first missing index. */
export function list(params: Ec2Params, prefix: string, suffix = ''): string[] {
  const values: string[] = [];
  for (let n = 1; ; n++) {
    const value = params.get(`${prefix}.${n}${suffix}`);
    if (value === undefined) return values;
    values.push(value);
  }
}

export function required(params: Ec2Params, name: string): string {
  const value = params.get(name);
  if (value === undefined || value === '') {
    throw new Ec2Error('MissingParameter', `The request must contain the parameter ${name}`);
  }
  return value;
}

/**
 * EC2's limits on a Describe call's filters, counted over the whole call rather than per filter:
 * more than 200 values in all, or a value longer than 255 characters, is FilterLimitExceeded (HTTP
 * 400). The messages are the service's, as reported against DescribeInstances and DescribeTags
 * (e.g. 201 `instance-id` values in one filter fail; ansible/ansible#16184 hit it with values
 * spread over filters).
 */
export const FILTER_VALUES_PER_CALL = 200;
const FILTER_VALUE_MAX_LENGTH = 255;

function withinFilterLimits(given: Ec2Filter[]): Ec2Filter[] {
  const values = given.flatMap((filter) => filter.values);
  if (values.length > FILTER_VALUES_PER_CALL) {
    throw new Ec2Error(
      'FilterLimitExceeded',
      `The maximum number of filter values specified on a single call is ${FILTER_VALUES_PER_CALL}`,
    );
  }
  if (values.some((value) => value.length > FILTER_VALUE_MAX_LENGTH)) {
    throw new Ec2Error(
      'FilterLimitExceeded',
      `The maximum length for a filter value is ${FILTER_VALUE_MAX_LENGTH} characters`,
    );
  }
  return given;
}

/** The call's `Filter.N` entries; @throws FilterLimitExceeded past EC2's limits. */
export function filters(params: Ec2Params): Ec2Filter[] {
  return withinFilterLimits(
    list(params, 'Filter', '.Name').map((name, i) => ({ name, values: list(params, `Filter.${i + 1}.Value`) })),
  );
}

export function tags(params: Ec2Params, prefix: string): Ec2Tag[] {
  return list(params, prefix, '.Key').map((key, i) => ({ key, value: params.get(`${prefix}.${i + 1}.Value`) ?? '' }));
}

/** Tags from `TagSpecification.N` entries whose ResourceType is `resourceType`. */
export function tagSpecifications(params: Ec2Params, resourceType: string): Ec2Tag[] {
  return list(params, 'TagSpecification', '.ResourceType').flatMap((type, i) => {
    if (type !== resourceType) {
      throw new Ec2Error(
        'InvalidParameterValue',
        `'${type}' is not a valid taggable resource type for this operation.`,
      );
    }
    return tags(params, `TagSpecification.${i + 1}.Tag`);
  });
}

/**
 * MaxResults: below `min` is refused; above `max` is capped, as the API reference says for
 * DescribeVolumes ("if you specify a value larger than 500, only 500 items are returned") and
 * DescribeSnapshots (1000). The AWS CLI sends MaxResults=1000 by default (its EC2 page-size
 * injector), so refusing it would break `aws ec2 describe-volumes`. Undefined when absent.
 */
export function maxResults(params: Ec2Params, min: number, max: number): number | undefined {
  const raw = params.get('MaxResults');
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new Ec2Error(
      'InvalidParameterValue',
      `Value ( ${raw} ) for parameter maxResults is invalid. Expecting a value greater than ${min - 1}.`,
    );
  }
  return Math.min(value, max);
}

/** The Query API's boolean: `true` (any case) is true, anything else false. */
export function flag(params: Ec2Params, name: string): boolean {
  return params.get(name)?.toLowerCase() === 'true';
}

/**
 * Called by every action once its checks passed and before it changes anything: with DryRun=true
 * EC2 answers DryRunOperation (HTTP 412) and does nothing (API reference, DryRun parameter:
 * "If you have the required permissions, the error response is DryRunOperation").
 */
export function unlessDryRun(params: Ec2Params): void {
  if (flag(params, 'DryRun')) {
    throw new Ec2Error('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
  }
}

export function validateIds(ids: string[], prefix: 'vol' | 'snap'): void {
  const kind = prefix === 'vol' ? 'Volume' : 'Snapshot';
  for (const id of ids) {
    if (!new RegExp(`^${prefix}-[0-9a-f]{8,17}$`).test(id)) {
      throw new Ec2Error(`Invalid${kind}ID.Malformed`, `Invalid id: "${id}"`);
    }
  }
}
