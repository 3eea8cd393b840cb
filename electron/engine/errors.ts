/**
 * Typed errors of the engine. Front ends map them by class, never by message text: the service
 * turns `NotFoundError` into the contract's 'not_found', `ConflictError` into 'conflict' and
 * `BadInputError` into 'bad_request'; the CLI prints the message on one line.
 */

/** Something the request names does not exist (a run, a sample, a backbone, a file). */
export class NotFoundError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'NotFoundError'
  }
}

/** The request clashes with the project's state (an existing file, no finished run, no features yet). */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConflictError'
  }
}

/** The request itself is invalid (a class index out of range, a relative path where an absolute one is needed). */
export class BadInputError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BadInputError'
  }
}
