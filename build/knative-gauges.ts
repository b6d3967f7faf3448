/*
 * The fleet gauges on Knative. On OpenFaaS pod-watch serves them; on Knative an ApiServerSource
 * delivers pod changes, so the same image runs here in its gauges-only mode (POD_WATCH_MODE=gauges):
 * one always-on replica that reads the database on each scrape, so the gauges exist while every
 * function is scaled to zero. It needs nothing from the Kubernetes API (no Role, no token mounted),
 * only the database: the functions' settings and their devenv-lifecycle-db secret, mounted where
 * the functions have it. Prometheus finds it by the same scrape annotations as pod-watch.
 */
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { StackFunction } from './stack.js';

export const GAUGES_NAME = 'fleet-gauges';

interface GaugesOptions {
  namespace: string;
  settingsMap: string;
  imagePullSecret: string;
  containerSecurity: object;
}

export function gaugesExporter(
  podWatch: StackFunction,
  options: GaugesOptions,
): [IServiceAccount, IDeployment, IService] {
  const name = `devenv-lifecycle-${GAUGES_NAME}`;
  // A fresh object at each use, so the YAML carries no anchors.
  const labels = () => ({ 'app.kubernetes.io/name': GAUGES_NAME, 'app.kubernetes.io/part-of': 'devenv-lifecycle' });
  const metadata = () => ({ name, namespace: options.namespace, labels: labels() });
  const account: IServiceAccount = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: metadata(),
    automountServiceAccountToken: false,
    imagePullSecrets: [{ name: options.imagePullSecret }],
  };
  const deployment: IDeployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(),
    spec: {
      // Read-only and stateless: one replica is enough, and a second would only double the scrapes' queries.
      replicas: 1,
      selector: { matchLabels: labels() },
      template: {
        metadata: {
          labels: labels(),
          annotations: {
            'prometheus.io/scrape': 'true',
            'prometheus.io/port': '8080',
            'prometheus.io/path': '/metrics',
          },
        },
        spec: {
          serviceAccountName: name,
          automountServiceAccountToken: false,
          containers: [
            {
              name: GAUGES_NAME,
              image: podWatch.image,
              // The bundle directly: the template's own entry (the watchdog) is for invocations.
              command: ['node', 'function/handler.js'],
              envFrom: [{ configMapRef: { name: options.settingsMap } }],
              env: [
                { name: 'POD_WATCH_MODE', value: 'gauges' },
                { name: 'POD_WATCH_PORT', value: '8080' },
              ],
              ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
              livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 20, failureThreshold: 3 },
              readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 10 },
              resources: { requests: podWatch.requests, limits: podWatch.limits },
              securityContext: options.containerSecurity,
              volumeMounts: [
                { name: 'secrets', mountPath: '/var/openfaas/secrets', readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'secrets', projected: { sources: [{ secret: { name: 'devenv-lifecycle-db' } }] } },
            { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
          ],
        },
      },
    },
  };
  // For operators' tools: GET /why/<id> and /metrics inside the cluster.
  const service: IService = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(),
    spec: { selector: labels(), ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
  };
  return [account, deployment, service];
}
