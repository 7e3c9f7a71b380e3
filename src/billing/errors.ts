import { InputError, OperationError } from '../errors.ts';

/**
 * The day is not billable yet at `now` (its cut-off on D+1 has not passed). Exit 2; the job
 * layer treats it as unrecoverable (retrying the same payload cannot help before the cut-off).
 */
export class DayNotBillableError extends InputError {
  constructor(
    readonly tenantId: string,
    readonly day: string,
    readonly billableAt: Date,
  ) {
    super(
      `day ${day} of tenant "${tenantId}" is not billable yet: it becomes billable at ${billableAt.toISOString()}`,
      'DAY_NOT_BILLABLE',
    );
  }
}

export class UnknownTenantError extends InputError {
  constructor(readonly tenantId: string) {
    super(`unknown tenant "${tenantId}"`, 'UNKNOWN_TENANT');
  }
}

/** A day that could not be billed (e.g. a missing or foreign-currency price). Exit 1; nothing of the day was written. */
export class DayBillingError extends OperationError {
  constructor(
    readonly tenantId: string,
    readonly day: string,
    message: string,
    readonly item?: string,
  ) {
    super(`tenant "${tenantId}" day ${day}: ${message}`, 'DAY_BILLING_FAILED');
  }
}
