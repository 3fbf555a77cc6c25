import {
  BadRequestException,
  NotFoundException,
  ServiceUnavailableException,
} from '@nestjs/common';
import type { ArgumentsHost } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { jest } from '@jest/globals';
import type { Env } from '../config/env';
import { PROBLEM_JSON, ProblemDetailsFilter, toProblem } from './problem-details.filter';
import { NotFoundError } from '../errors/application-errors';

describe('problem details', () => {
  it('lists validation messages', () => {
    const problem = toProblem(new BadRequestException(['name must be a string']), false, '/x');
    expect(problem).toEqual({
      type: 'about:blank',
      title: 'Bad Request',
      status: 400,
      instance: '/x',
      detail: 'The request is invalid.',
      errors: ['name must be a string'],
    });
  });

  it('keeps extension members such as failed health checks', () => {
    const problem = toProblem(
      new ServiceUnavailableException({ status: 'error', error: { database: { status: 'down' } } }),
      true,
    );
    expect(problem.status).toBe(503);
    expect(problem.error).toEqual({ database: { status: 'down' } });
  });

  it('keeps the message of an HTTP exception', () => {
    expect(toProblem(new NotFoundException('item 1 not found'), true).detail).toBe(
      'item 1 not found',
    );
  });

  it('answers 404 with the message of a NotFoundError of a use case', () => {
    const problem = toProblem(new NotFoundError('item 1 does not exist'), true, '/items/1');
    expect(problem).toMatchObject({
      status: 404,
      title: 'Not Found',
      detail: 'item 1 does not exist',
    });
  });

  it('hides internal errors in production', () => {
    const problem = toProblem(new Error('password=secret at db.ts:12'), true);
    expect(problem.status).toBe(500);
    expect(problem.detail).toBe('An unexpected error occurred.');
    expect(JSON.stringify(problem)).not.toContain('secret');
  });

  it('writes application/problem+json', () => {
    const reply = jest.fn();
    const setHeader = jest.fn();
    const adapterHost = {
      httpAdapter: { reply, setHeader, getRequestUrl: () => '/api/v1/x' },
    } as unknown as HttpAdapterHost;
    const filter = new ProblemDetailsFilter(adapterHost, { NODE_ENV: 'production' } as Env);
    const host = {
      getType: () => 'http',
      switchToHttp: () => ({ getRequest: () => ({}), getResponse: () => ({}) }),
    } as unknown as ArgumentsHost;
    filter.catch(new Error('boom'), host);
    expect(setHeader).toHaveBeenCalledWith({}, 'Content-Type', PROBLEM_JSON);
    expect(reply).toHaveBeenCalledWith({}, expect.stringContaining('"status":500'), 500);
  });
});
