import { InputError } from '../errors.ts';

/** Something named in the request does not exist (HTTP 404, exit 2). */
export class NotFoundError extends InputError {
  constructor(message: string, code: 'UNKNOWN_TENANT' | 'UNKNOWN_USER') {
    super(message, code);
  }
}

/** HTTP status of an insight error: 404 for what does not exist, 400 for any other bad input. */
export function httpStatusOf(error: InputError): 400 | 404 {
  return error.code === 'UNKNOWN_TENANT' || error.code === 'UNKNOWN_USER' ? 404 : 400;
}
