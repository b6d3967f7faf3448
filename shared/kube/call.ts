/*
 * One API request with a time budget: the client's per-call middleware attaches an AbortSignal
 * that fires after `timeoutMs` (or when the caller's own signal does, e.g. the retry policy's
 * per-attempt timeout), and whatever is thrown comes back translated (errors.ts).
 */
import { Observable } from '@kubernetes/client-node';
import type {
  ConfigurationOptions,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
} from '@kubernetes/client-node';
import { Transient } from '../errors.js';
import { translateKubeError } from './errors.js';

function signalling(signal: AbortSignal): ObservableMiddleware {
  return {
    pre: (context: RequestContext) => {
      context.setSignal(signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
  };
}

export interface CallSettings {
  /** What the call does, for messages: "delete pod ns/name". */
  action: string;
  timeoutMs: number;
  signal?: AbortSignal;
  /** The object the call is about; a 404 is NotFound only when it names this object. */
  name?: string;
}

export async function callApi<T>(
  settings: CallSettings,
  run: (options: ConfigurationOptions) => Promise<T>,
): Promise<T> {
  const timeout = AbortSignal.timeout(settings.timeoutMs);
  const signal = settings.signal ? AbortSignal.any([timeout, settings.signal]) : timeout;
  try {
    return await run({ middleware: [signalling(signal)], middlewareMergeStrategy: 'append' });
  } catch (err) {
    if (timeout.aborted)
      throw new Transient(`${settings.action}: no answer within ${settings.timeoutMs} ms`, undefined, { cause: err });
    if (settings.signal?.aborted)
      throw new Transient(`${settings.action}: cancelled by the caller`, undefined, { cause: err });
    throw translateKubeError(err, settings.action, settings.name);
  }
}
