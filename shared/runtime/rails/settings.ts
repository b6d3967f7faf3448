/* The safety rails' settings (shared/config.ts: BREAKER_*, CLOCK_SKEW_MAX_SECONDS, SHADOW_FUNCTIONS). */
export interface RailsSettings {
  breakerMinActions: number;
  breakerFleetPercent: number;
  breakerWindowMinutes: number;
  clockSkewMaxSeconds: number;
  shadowFunctions: readonly string[];
}
