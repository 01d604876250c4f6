/**
 * The service's errors and the one table from error code to HTTP status. Every error answer
 * is `{ code, message }`; a 500 means a bug.
 */

/** An error the API reports to the client with a stable `code`. */
export class ApiError<C extends ApiErrorCode = ApiErrorCode> extends Error {
  readonly code: C;
  readonly statusCode: (typeof statusByCode)[C];

  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.statusCode = statusByCode[code];
    this.name = new.target.name;
  }
}

/** Code -> HTTP status. Codes are stable; docs/api.md lists each one. */
export const statusByCode = {
  BAD_REQUEST: 400,
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  INVALID_URL: 400,
  INVALID_CURSOR: 400,
  INVALID_IDEMPOTENCY_KEY: 400,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  PAYMENT_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  IDEMPOTENCY_IN_PROGRESS: 409,
  PAYMENT_PENDING: 409,
  BODY_TOO_LARGE: 413,
  URI_TOO_LONG: 414,
  UNSUPPORTED_MEDIA_TYPE: 415,
  IDEMPOTENCY_KEY_REUSED: 422,
  RATE_LIMITED: 429,
  HEADER_TOO_LARGE: 431,
  INTERNAL: 500,
  SERVICE_UNAVAILABLE: 503,
  DATABASE_UNAVAILABLE: 503,
  OVERLOADED: 503,
  TOO_MANY_STREAMS: 503,
} as const satisfies Record<string, number>;

/** A code of the API: `'BAD_REQUEST' | 'RATE_LIMITED' | ...`, the keys of {@link statusByCode}. */
export type ApiErrorCode = keyof typeof statusByCode;

/** Fastify's own error codes for bad requests, mapped to ours. */
export const fastifyCodes: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_VALIDATION: 'VALIDATION_FAILED',
  FST_ERR_BAD_URL: 'INVALID_URL',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
};

/**
 * The code for a client error Fastify or a plugin raised with only a status: its own code
 * where the table has one for that status, else BAD_REQUEST (400).
 */
export const codeByClientStatus: Readonly<Record<number, ApiErrorCode>> = {
  400: 'BAD_REQUEST',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'BODY_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RATE_LIMITED',
  431: 'HEADER_TOO_LARGE',
};
