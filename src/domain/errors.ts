/**
 * Base class of the errors the domain throws on purpose. `code` is a stable, machine-readable
 * identifier (e.g. `MISSING_PRICE`) for adapters to map to exit codes or HTTP statuses; the
 * message says what and where, for a person.
 */
export class DomainError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}
