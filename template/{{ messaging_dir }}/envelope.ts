import { randomUUID } from 'node:crypto';

/** An integration event as it travels on the broker. `id` makes consumption idempotent. */
export interface IntegrationEnvelope<T = Record<string, unknown>> {
  id: string;
  type: string;
  source: string;
  occurredAt: string;
  data: T;
}

export function envelope<T>(type: string, source: string, data: T): IntegrationEnvelope<T> {
  return { id: randomUUID(), type, source, occurredAt: new Date().toISOString(), data };
}
