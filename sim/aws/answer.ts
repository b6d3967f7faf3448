import { randomUUID } from 'node:crypto';
import { ec2ErrorXml } from './ec2-xml.js';

/** A complete HTTP answer, built before anything is written so faults can withhold or delay it. */
export interface SimAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function ec2ErrorAnswer(status: number, code: string, message: string): SimAnswer {
  const requestId = randomUUID();
  return { status, headers: { 'Content-Type': 'text/xml;charset=UTF-8' }, body: ec2ErrorXml(code, message, requestId) };
}

/** Lambda's REST-JSON error: the type in `x-amzn-ErrorType`, details in the body. */
export function lambdaErrorAnswer(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): SimAnswer {
  return {
    status,
    headers: {
      'Content-Type': 'application/json',
      'x-amzn-ErrorType': code,
      'x-amzn-RequestId': randomUUID(),
      ...headers,
    },
    body: JSON.stringify({ Type: 'User', Message: message }),
  };
}
