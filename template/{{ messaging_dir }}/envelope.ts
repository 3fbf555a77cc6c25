import { randomUUID } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import { z } from 'zod';

/**
 * An integration event as it travels on the broker. `id` makes consumption idempotent;
 * `traceparent` (W3C Trace Context) carries the producing request's trace to the consumers.
 */
export interface IntegrationEnvelope<T = Record<string, unknown>> {
  id: string;
  type: string;
  source: string;
  occurredAt: string;
  traceparent?: string;
  data: T;
}

/** A new envelope, carrying the active trace context when tracing is on. */
export function envelope<T>(type: string, source: string, data: T): IntegrationEnvelope<T> {
  const carrier: { traceparent?: string } = {};
  propagation.inject(context.active(), carrier);
  return {
    id: randomUUID(),
    type,
    source,
    occurredAt: new Date().toISOString(),
    ...carrier,
    data,
  };
}

/** The schema a consumer checks a received envelope against, with the schema of its data. */
export function envelopeSchema<T extends z.ZodType>(data: T) {
  return z.object({
    id: z.string().min(1).max(64),
    type: z.string().min(1).max(128),
    source: z.string().min(1).max(64),
    occurredAt: z.iso.datetime(),
    traceparent: z.string().optional(),
    data,
  });
}
