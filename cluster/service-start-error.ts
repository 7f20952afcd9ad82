// The error of a server process that did not get ready: a SpindleError that also carries the end
// of the process's log, because the reason (a port in use, a full disk, a bad config key) is what
// the server wrote there, and whoever started it needs that to act.
//
// Codes: SERVICE_START_FAILED (exited, or printed something other than its JSON ready line, or
// could not be spawned), TIMEOUT (no ready line in time), CANCELLED (the caller gave up).
import { type ErrorCode, SpindleError } from '../common/errors.js';

export class ServiceStartError extends SpindleError {
  constructor(
    code: ErrorCode,
    message: string,
    /** Name of the service, e.g. 'meta', 'storage-2'. */
    readonly service: string,
    /** The service's stderr log. */
    readonly logFile: string,
    /** The end of that log (see tailFile), '' when it wrote nothing. */
    readonly logTail: string,
  ) {
    super(code, message);
    this.name = 'ServiceStartError';
  }
}
