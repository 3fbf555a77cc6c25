import type { JWTPayload } from 'jose';

/** The authenticated caller, as read from a verified token (shared by requests: read-only). */
export interface Principal {
  readonly subject: string;
  readonly roles: readonly string[];
  readonly claims: Readonly<JWTPayload>;
}

/** Roles from `roles` (a list) or Keycloak's `realm_access.roles`. */
export function rolesOf(claims: JWTPayload): string[] {
  const direct = claims.roles;
  const realm = (claims.realm_access as { roles?: unknown } | undefined)?.roles;
  const list: unknown = Array.isArray(direct) ? direct : realm;
  return Array.isArray(list) ? list.filter((role): role is string => typeof role === 'string') : [];
}

export function toPrincipal(claims: JWTPayload): Principal {
  return { subject: claims.sub ?? '', roles: rolesOf(claims), claims };
}
