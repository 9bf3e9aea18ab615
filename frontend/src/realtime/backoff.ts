/** Reconnect delays: exponential with full jitter, capped. Pure for testing. */

export interface BackoffPolicy {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Delay before reconnect attempt `attempt` (0-based); `random` in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: number): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt));
  // Half fixed, half jitter: never zero, and clients do not reconnect in lockstep.
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** WebSocket close codes after which reconnecting cannot help. */
export const CLOSE_FINAL = new Set<number>([4401, 4403, 4404]);

export function closeIsFinal(code: number): boolean {
  return CLOSE_FINAL.has(code);
}
