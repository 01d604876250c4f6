/**
 * The base class of every error hotpath throws. Callers branch on {@link HotpathError.code},
 * which is stable across releases and listed in docs/errors.md; messages may change.
 */
export class HotpathError extends Error {
  /** Stable machine-readable code, `HP_ERR_<CONCEPT>_<WHAT>`. */
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * An option passed to a constructor or factory is missing, of the wrong type or out of range.
 * Thrown synchronously at construction time, naming the option.
 */
export class InvalidOptionError extends HotpathError {
  /** The option's name, as the caller spelled it (`timeoutMs`, `l1.max`). */
  readonly option: string;

  constructor(option: string, message: string, options?: ErrorOptions) {
    super('HP_ERR_INVALID_OPTION', `invalid option "${option}": ${message}`, options);
    this.option = option;
  }
}

/** An operation was cancelled through its `AbortSignal`. */
export class AbortedError extends HotpathError {
  constructor(message = 'the operation was aborted', options?: ErrorOptions) {
    super('HP_ERR_ABORTED', message, options);
  }
}

/** A method was called on an object after its `close()` began. */
export class ClosedError extends HotpathError {
  constructor(what: string, options?: ErrorOptions) {
    super('HP_ERR_CLOSED', `${what} is closed`, options);
  }
}
