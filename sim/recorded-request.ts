/* One request the simulator served, as kept in its request log (the control API reads it too). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  /** accept, content-type, authorization, user-agent, sec-websocket-protocol, upgrade, when present. */
  headers: Record<string, string>;
  body: string;
  at: Date;
}
