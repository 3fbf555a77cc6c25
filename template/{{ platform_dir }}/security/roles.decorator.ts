import { SetMetadata } from '@nestjs/common';

export const ROLES = 'platform:roles';

/** The caller needs at least one of these roles (from the token's `roles` claim). */
export const Roles = (...roles: string[]): ClassDecorator & MethodDecorator =>
  SetMetadata(ROLES, roles);
