/** An RFC 9457 problem details object: what every error of the application becomes. */
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
