import { Catch, HttpException, Inject, Logger } from '@nestjs/common';
import type { ArgumentsHost, ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { STATUS_CODES } from 'node:http';
import { ENV } from '../config/env';
import type { Env } from '../config/env';

/** An RFC 9457 problem details object. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: string[];
  /** Extension members, e.g. the per-dependency results of a failed readiness check. */
  [extension: string]: unknown;
}

const STANDARD_KEYS = new Set([
  'message',
  'statusCode',
  'status',
  'type',
  'title',
  'detail',
  'instance',
]);

export const PROBLEM_JSON = 'application/problem+json';

/** Turns an exception into a problem details object; no stack trace ever leaves the service. */
export function toProblem(
  exception: unknown,
  production: boolean,
  instance?: string,
): ProblemDetails {
  const status = exception instanceof HttpException ? exception.getStatus() : 500;
  const problem: ProblemDetails = {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    instance,
  };
  if (exception instanceof HttpException) {
    const response = exception.getResponse();
    const message =
      typeof response === 'string' ? response : (response as { message?: unknown }).message;
    if (typeof response === 'object' && response !== null) {
      for (const [key, value] of Object.entries(response)) {
        if (!STANDARD_KEYS.has(key) && !(key === 'error' && typeof value === 'string')) {
          problem[key] = value;
        }
      }
    }
    if (Array.isArray(message)) {
      problem.detail = 'The request is invalid.';
      problem.errors = message.map(String);
    } else if (typeof message === 'string') {
      problem.detail = message;
    }
  } else {
    problem.detail =
      production || !(exception instanceof Error)
        ? 'An unexpected error occurred.'
        : exception.message;
  }
  return problem;
}

/** Every HTTP error as application/problem+json (RFC 9457). */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger(ProblemDetailsFilter.name);

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(ENV) private readonly env: Env,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') {
      this.logger.error(exception instanceof Error ? exception.stack : String(exception));
      return;
    }
    const { httpAdapter } = this.adapterHost;
    const ctx = host.switchToHttp();
    const problem = toProblem(
      exception,
      this.env.NODE_ENV === 'production',
      String(httpAdapter.getRequestUrl(ctx.getRequest())),
    );
    if (problem.status >= 500) {
      this.logger.error(exception instanceof Error ? exception.stack : String(exception));
    }
    const response: unknown = ctx.getResponse();
    httpAdapter.setHeader(response, 'Content-Type', PROBLEM_JSON);
    httpAdapter.reply(response, JSON.stringify(problem), problem.status);
  }
}
