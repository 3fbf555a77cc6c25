import { ForbiddenException, Injectable } from '@nestjs/common';
import type { CanActivate, ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { isCallerFacing, requestOf } from '../http/execution-context';
import { IS_PUBLIC } from './public.decorator';
import type { AuthenticatedRequest } from './auth.guard';
import { ROLES } from './roles.decorator';

/**
 * Global guard: routes and operations marked @Roles(...) need one of the roles. Runs after AuthGuard.
 * @Public() handlers have no caller, so they cannot require a role.
 */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    const required = this.reflector.getAllAndOverride<string[] | undefined>(ROLES, targets);
    if (
      !required?.length ||
      this.reflector.getAllAndOverride<boolean | undefined>(IS_PUBLIC, targets)
    ) {
      return true;
    }
    if (!isCallerFacing(context)) {
      throw new ForbiddenException(`No caller has a role on a ${context.getType()} handler.`);
    }
    const { user } = requestOf<AuthenticatedRequest>(context);
    if (!user?.roles.some((role) => required.includes(role))) {
      throw new ForbiddenException(`One of the roles ${required.join(', ')} is required.`);
    }
    return true;
  }
}
