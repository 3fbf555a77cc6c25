import { Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { ENV } from '../config/env';
import type { Env } from '../config/env';

const QUIET_PATHS = new Set(['/health/live', '/health/ready', '/metrics']);
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** A request id: the caller's x-request-id when it is well formed, otherwise a new UUID. */
export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const header = req.headers['x-request-id'];
  const id = typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
  res.setHeader('x-request-id', id);
  return id;
}

/** JSON logs on stdout (nestjs-pino) with a request id and no credentials. */
@Module({
  imports: [
    LoggerModule.forRootAsync({
      inject: [ENV],
      useFactory: (env: Env) => ({
        pinoHttp: {
          level: env.LOG_LEVEL,
          genReqId: requestId,
          redact: {
            paths: [
              'req.headers.authorization',
              'req.headers.cookie',
              'res.headers["set-cookie"]',
            ],
            censor: '[redacted]',
          },
          autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.has(req.url ?? '') },
        },
      }),
    }),
  ],
})
export class LoggingModule {}
