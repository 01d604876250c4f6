/**
 * @module hotpath/errors
 * The error classes every hotpath module throws and the registry of their stable codes.
 * Match errors on `code` (with {@link hasErrorCode}, or `instanceof`), never on `message`.
 * Codes are typed: {@link ErrorCode} is the union of the registry's codes. Library errors
 * carry no HTTP status: mapping codes to responses is the application's job.
 */
export { HotpathError, InvalidOptionError, AbortedError, ClosedError } from './hotpath-error.js';
export { errorCodes, isErrorCode } from './codes.js';
export type { ErrorCode } from './codes.js';
export { hasErrorCode } from './has-error-code.js';
