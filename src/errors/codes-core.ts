/** Codes shared by every module. */
export const coreCodes = {
  HP_ERR_INVALID_OPTION: 'An option is missing, of the wrong type or out of range.',
  HP_ERR_ABORTED: 'The operation was cancelled through its AbortSignal.',
  HP_ERR_CLOSED: 'The object was used after close() began.',
} as const satisfies Record<`HP_ERR_${string}`, string>;
