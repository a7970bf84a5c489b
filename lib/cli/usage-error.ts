/** A usage error: printed as `gpubench: error: <message>`, exit code 2. */
export class UsageError extends Error {}
