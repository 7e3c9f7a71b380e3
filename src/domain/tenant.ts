/**
 * A tenant: its own calendar (`timezone`, an IANA zone), its currency (ISO 4217; amounts are
 * minor units of it) and the local hour on D+1 from which day D is billable (`cutoffHour`).
 */
export interface Tenant {
  id: string;
  name: string;
  timezone: string;
  currency: string;
  cutoffHour: number;
}
