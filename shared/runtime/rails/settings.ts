/* The safety rails' settings (shared/config.ts: BREAKER_*, CLOCK_SKEW_MAX_SECONDS, SHADOW_FUNCTIONS). */
export interface RailsSettings {
  breakerMinActions: number;
  breakerFleetPercent: number;
  breakerWindowMinutes: number;
  /** Past this skew from the database's clock, destructive actions are refused; 0 turns the rail off. */
  clockSkewMaxSeconds: number;
  shadowFunctions: readonly string[];
}
