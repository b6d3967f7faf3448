/*
 * Everything in a namespace that carries a label: what teardown deletes and then verifies. A port
 * over the Kubernetes client, shared by cleanup-pod (reservation resources) and ending-watchdog
 * (lab resources).
 */
export interface LabelledResources {
  /**
   * Delete every pod, service and ingress matching `labelSelector`. A resource already gone counts
   * as deleted; every other failure is returned, not thrown, so the caller can verify anyway.
   */
  deleteLabelled(namespace: string, labelSelector: string, podGraceSeconds: number): Promise<{ errors: string[] }>;
  /** What still matches, as "kind/name" (pods still terminating included). Throws if it cannot tell. */
  listLabelled(namespace: string, labelSelector: string): Promise<string[]>;
}

/** Single named objects, for what older writers created without our label. */
export interface NamedResources {
  /** 'absent' when it was already gone (404). Throws on any other failure. */
  deletePod(namespace: string, name: string, graceSeconds: number): Promise<'deleted' | 'absent'>;
  deleteService(namespace: string, name: string): Promise<'deleted' | 'absent'>;
}
