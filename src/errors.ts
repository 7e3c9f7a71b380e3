import { DomainError } from './domain/errors.ts';

/**
 * Errors that cross a boundary carry a code and an exit status (`docs/cli.md`): 2 for bad usage or
 * bad input, 1 for a failure of the system (a service unreachable, a day that could not be billed).
 */
export class AppError extends DomainError {
  constructor(
    message: string,
    code: string,
    readonly exitCode: 1 | 2,
  ) {
    super(code, message);
  }
}

/** Bad usage or bad input: the message says what and where (file, line, field). Exit 2. */
export class InputError extends AppError {
  constructor(message: string, code = 'INVALID_INPUT') {
    super(message, code, 2);
  }
}

/** The input is well-formed but contradicts what is stored (e.g. a settings version with other content). */
export class ConflictError extends AppError {
  constructor(message: string, code = 'CONFLICT') {
    super(message, code, 2);
  }
}

/** Something that should have worked did not (a day that could not be billed). Exit 1. */
export class OperationError extends AppError {
  constructor(message: string, code = 'OPERATION_FAILED') {
    super(message, code, 1);
  }
}
