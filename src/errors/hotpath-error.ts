import type { ErrorCode } from './codes.js';

/**
 * The base class of every error hotpath throws. Callers branch on {@link HotpathError.code},
 * which is stable across releases and listed in docs/errors.md; messages may change.
 *
 * `C` is the code a subclass carries (`class CircuitOpenError extends
 * HotpathError<'HP_ERR_CIRCUIT_OPEN'>`), so `error.code` narrows with the class; the code must
 * be one of the registry's ({@link ErrorCode}), so a class cannot carry an undocumented code.
 */
export class HotpathError<C extends ErrorCode = ErrorCode> extends Error {
  /** Stable machine-readable code, `HP_ERR_<CONCEPT>_<WHAT>`. */
  readonly code: C;

  constructor(code: C, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * An option passed to a constructor or factory is missing, of the wrong type or out of range.
 * Thrown synchronously at construction time, naming the option.
 */
export class InvalidOptionError extends HotpathError<'HP_ERR_INVALID_OPTION'> {
  /** The option's name, as the caller spelled it (`timeoutMs`, `l1.max`). */
  readonly option: string;
  /**
   * What is wrong with the value, without the option's name: the message is
   * `invalid option "<option>": <reason>`, and a command line that names the flag itself
   * prints `<flag>: <reason>`.
   */
  readonly reason: string;

  constructor(option: string, message: string, options?: ErrorOptions) {
    super('HP_ERR_INVALID_OPTION', `invalid option "${option}": ${message}`, options);
    this.option = option;
    this.reason = message;
  }
}

/** An operation was cancelled through its `AbortSignal`. */
export class AbortedError extends HotpathError<'HP_ERR_ABORTED'> {
  constructor(message = 'the operation was aborted', options?: ErrorOptions) {
    super('HP_ERR_ABORTED', message, options);
  }
}

/** A method was called on an object after its `close()` began. */
export class ClosedError extends HotpathError<'HP_ERR_CLOSED'> {
  constructor(what: string, options?: ErrorOptions) {
    super('HP_ERR_CLOSED', `${what} is closed`, options);
  }
}
