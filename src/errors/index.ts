/**
 * @module hotpath/errors
 * The error classes every hotpath module throws and the registry of their stable codes.
 * Match errors on `code` (or `instanceof`), never on `message`. Library errors carry no HTTP
 * status: mapping codes to responses is the application's job.
 */
export { HotpathError, InvalidOptionError, AbortedError, ClosedError } from './hotpath-error.js';
export { errorCodes } from './codes.js';
