/**
 * Starts tracing before Nest is loaded (main.ts imports this file first), and only when it is on:
 * OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set and
 * OTEL_SDK_DISABLED is not true. With tracing off the OpenTelemetry SDK is never loaded, which
 * keeps its memory and start-up time out of the process.
 */
const endpoint =
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT || process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;

if (endpoint && process.env.OTEL_SDK_DISABLED !== 'true') {
  // A synchronous load, on purpose: the instrumentations must patch the libraries before main.ts
  // imports Nest, which an asynchronous import() would not guarantee.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tracing = require('./instrumentation') as typeof import('./instrumentation');
  tracing.startTracing();
}
