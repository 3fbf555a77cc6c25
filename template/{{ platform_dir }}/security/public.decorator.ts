import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'platform:isPublic';

/** Marks a route that needs no token (health, metrics, docs). */
export const Public = (): ClassDecorator & MethodDecorator => SetMetadata(IS_PUBLIC, true);
