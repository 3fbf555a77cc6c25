import { jest } from '@jest/globals';
import { UnauthorizedException } from '@nestjs/common';
import type { ArgumentsHost } from '@nestjs/common';
import type { Env } from '../config/env';
import { EXCEPTION_EVENT, SocketProblemFilter } from './socket-problem.filter';

function hostFor(emit: (event: string, body: unknown) => void): ArgumentsHost {
  return { switchToWs: () => ({ getClient: () => ({ emit }) }) } as unknown as ArgumentsHost;
}

describe('SocketProblemFilter', () => {
  it('sends the problem details of an HTTP exception to the client', () => {
    const emit = jest.fn();
    const filter = new SocketProblemFilter({ NODE_ENV: 'test' } as Env);
    filter.catch(new UnauthorizedException('A bearer token is required.'), hostFor(emit));
    expect(emit).toHaveBeenCalledWith(EXCEPTION_EVENT, {
      type: 'about:blank',
      title: 'Unauthorized',
      status: 401,
      detail: 'A bearer token is required.',
    });
  });

  it('hides the message of an unexpected error in production', () => {
    const emit = jest.fn();
    const filter = new SocketProblemFilter({ NODE_ENV: 'production' } as Env);
    filter.catch(new Error('connection string with a password'), hostFor(emit));
    expect(emit).toHaveBeenCalledWith(
      EXCEPTION_EVENT,
      expect.objectContaining({ status: 500, detail: 'An unexpected error occurred.' }),
    );
  });
});
