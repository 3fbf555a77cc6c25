import { Module, RequestMethod } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { ENV } from '../config/env';
import type { Env } from '../config/env';

const QUIET_PATHS = new Set(['/health/live', '/health/ready', '/metrics']);
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** A request id: the caller's x-request-id when it is well formed, otherwise a new UUID. */
export function requestIdFrom(headers: IncomingHttpHeaders): string {
  const header = headers['x-request-id'];
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}

/** pino-http's id for a request, echoed in the response. Fastify assigns its own id first (see
 * createHttpAdapter), and pino-http keeps an id the request already has. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const id = requestIdFrom(req.headers);
  res.setHeader('x-request-id', id);
  return id;
}

/** The request path as received: a path-mounted middleware sees `url` without its mount path. */
function receivedPath(req: IncomingMessage): string {
  const { originalUrl } = req as IncomingMessage & { originalUrl?: string };
  return (originalUrl ?? req.url ?? '').split('?', 1)[0];
}

/** JSON logs on stdout (nestjs-pino) with a request id and no credentials. */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [ENV],
      useFactory: (env: Env) => ({
        // One route for every path: the library's default adds the paths outside the global prefix
        // a second time, which logged each of their requests twice.
        forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
        pinoHttp: {
          level: env.LOG_LEVEL,
          genReqId: requestId,
          redact: {
            paths: ['req.headers.authorization', 'req.headers.cookie'],
            censor: '[redacted]',
          },
          // The status only: response headers are the same on every response (and may set cookies).
          serializers: { res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }) },
          autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.has(receivedPath(req)) },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
