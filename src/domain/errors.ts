/**
 * The one root of every error the system throws on purpose (domain rules here; `AppError` in
 * `src/errors.ts` adds the exit status for adapters). `code` is a stable, machine-readable
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
