/*
 * The AWS error table: which SDK errors are NotFound, Conflict, Transient, Invalid or Fatal.
 * (The wire-level counterpart is test/integration/aws-errors.test.ts.)
 */
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { TooManyRequestsException } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { Conflict, Fatal, Invalid, NotFound, Transient } from '../../shared/errors.js';
import { awsErrorCode, isThrottled, translateAwsError } from '../../shared/aws/errors.js';

type ErrorClass = abstract new (...args: never[]) => Error;

function ec2Error(name: string, httpStatusCode: number): EC2ServiceException {
  return new EC2ServiceException({
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode },
    message: `${name} happened`,
  });
}

function transportError(name: string, code?: string): Error {
  return Object.assign(new Error('socket trouble'), { name, code });
}

describe('translateAwsError', () => {
  it.each<[string, Error, ErrorClass]>([
    ['InvalidSnapshot.NotFound', ec2Error('InvalidSnapshot.NotFound', 400), NotFound],
    ['InvalidVolume.NotFound', ec2Error('InvalidVolume.NotFound', 400), NotFound],
    ['ResourceNotFoundException', ec2Error('ResourceNotFoundException', 404), NotFound],
    ['RequestLimitExceeded', ec2Error('RequestLimitExceeded', 503), Transient],
    ['RequestLimitExceeded as a 400', ec2Error('RequestLimitExceeded', 400), Transient],
    [
      'SnapshotCreationPerVolumeRateExceeded (a 400)',
      ec2Error('SnapshotCreationPerVolumeRateExceeded', 400),
      Transient,
    ],
    ['Throttling', ec2Error('Throttling', 400), Transient],
    ['ThrottlingException', ec2Error('ThrottlingException', 400), Transient],
    ['a bare 429', ec2Error('SlowDown', 429), Transient],
    ['InternalError 500', ec2Error('InternalError', 500), Transient],
    ['ServiceUnavailable 503', ec2Error('ServiceUnavailable', 503), Transient],
    ['VolumeInUse', ec2Error('VolumeInUse', 400), Conflict],
    ['IncorrectState', ec2Error('IncorrectState', 400), Conflict],
    ['AuthFailure', ec2Error('AuthFailure', 401), Fatal],
    ['UnauthorizedOperation', ec2Error('UnauthorizedOperation', 403), Fatal],
    ['InvalidVolumeID.Malformed', ec2Error('InvalidVolumeID.Malformed', 400), Invalid],
    ['InvalidParameterCombination', ec2Error('InvalidParameterCombination', 400), Invalid],
    ['a 404 with another code', ec2Error('NoSuchKey', 404), Invalid],
    ['a request timeout', transportError('TimeoutError', 'ETIMEDOUT'), Transient],
    ['a reset socket', transportError('Error', 'ECONNRESET'), Transient],
    ['a refused connection', transportError('Error', 'ECONNREFUSED'), Transient],
    ['an aborted call', transportError('AbortError'), Transient],
    ['a defect', new TypeError('cannot read properties of undefined'), Fatal],
  ])('%s', (_name, sdkError, expected) => {
    const translated = translateAwsError(sdkError, 'EC2 DescribeSnapshots');
    expect(translated).toBeInstanceOf(expected);
    expect(translated.cause).toBe(sdkError);
    expect(translated.message).toMatch(/^EC2 DescribeSnapshots: /);
  });

  it('only the three not-found codes are NotFound', () => {
    const others = [
      'InvalidSnapshot.InUse',
      'InvalidSnapshotID.Malformed',
      'InvalidID',
      'NotFound',
      'InvalidInstanceID.NotFound',
    ];
    for (const name of others) expect(translateAwsError(ec2Error(name, 400), 'op')).not.toBeInstanceOf(NotFound);
  });

  it("takes Lambda's Retry-After as retryAfterMs", () => {
    const throttled = new TooManyRequestsException({
      $metadata: { httpStatusCode: 429 },
      message: 'Rate Exceeded.',
      retryAfterSeconds: '2',
    });
    const translated = translateAwsError(throttled, 'Lambda Invoke');
    expect(translated).toBeInstanceOf(Transient);
    expect((translated as Transient).retryAfterMs).toBe(2_000);
  });

  it('passes an already classified error through unchanged', () => {
    const fatal = new Fatal('EC2 answered without a SnapshotId');
    expect(translateAwsError(fatal, 'EC2 DescribeSnapshots')).toBe(fatal);
  });
});

describe('isThrottled: EC2 refused the call for its rate, so sending it again is safe', () => {
  it.each<[string, Error, boolean]>([
    ['RequestLimitExceeded', ec2Error('RequestLimitExceeded', 503), true],
    ['SnapshotCreationPerVolumeRateExceeded', ec2Error('SnapshotCreationPerVolumeRateExceeded', 400), true],
    ['a 500 (the call may have been done)', ec2Error('InternalError', 500), false],
    ['a timeout (the answer may be lost)', transportError('TimeoutError', 'ETIMEDOUT'), false],
    ['IncorrectState', ec2Error('IncorrectState', 400), false],
  ])('%s → %s', (_name, sdkError, throttled) => {
    expect(isThrottled(translateAwsError(sdkError, 'EC2 CreateSnapshot'))).toBe(throttled);
  });

  it('keeps the EC2 code, so VolumeInUse and IncorrectState can be told apart', () => {
    expect(awsErrorCode(translateAwsError(ec2Error('IncorrectState', 400), 'op'))).toBe('IncorrectState');
    expect(awsErrorCode(translateAwsError(ec2Error('VolumeInUse', 400), 'op'))).toBe('VolumeInUse');
    expect(awsErrorCode(new Error('plain'))).toBeUndefined();
  });
});
