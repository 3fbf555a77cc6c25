import { Injectable, UnauthorizedException } from '@nestjs/common';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { isCallerFacing, requestOf } from '../http/execution-context';
import type { Principal } from './principal';
import { IS_PUBLIC } from './public.decorator';
import { TokenVerifier } from './token-verifier';

export interface AuthenticatedRequest {
  headers: Record<string, string | string[] | undefined>;
  user?: Principal;
}

/** The principal of a bearer Authorization header, or UnauthorizedException saying what is wrong. */
export async function authenticate(
  verifier: TokenVerifier,
  header: string | string[] | undefined,
): Promise<Principal> {
  const [scheme, token] = (typeof header === 'string' ? header : '').split(' ');
  if (scheme?.toLowerCase() !== 'bearer' || !token) {
    throw new UnauthorizedException('A bearer token is required.');
  }
  try {
    return await verifier.verify(token);
  } catch {
    throw new UnauthorizedException('The bearer token is invalid or expired.');
  }
}

/**
 * Global guard: every route and operation needs a valid bearer token unless it is marked @Public().
 * Deny by default: a handler of a transport whose caller platform/http/execution-context.ts does not
 * identify (a broker's event handler, or a transport a team adds) is refused unless it is @Public().
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
  ) {}

  // Synchronous on public routes: Nest awaits a guard only when it returns a promise.
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) {
      return true;
    }
    if (!isCallerFacing(context)) {
      throw new UnauthorizedException(
        `No caller can be authenticated on a ${context.getType()} handler.`,
      );
    }
    return this.authenticate(requestOf<AuthenticatedRequest>(context));
  }

  private async authenticate(request: AuthenticatedRequest): Promise<boolean> {
    request.user = await authenticate(this.verifier, request.headers.authorization);
    return true;
  }
}
