/*
 * How clients reach the simulator: a KubeConfig for @kubernetes/client-node (plain http, which the
 * client allows only with skipTLSVerify, and no trailing slash, which it would double) and the same
 * as a kubeconfig file for kubectl.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';

const name = 'devenv-sim';

export function simKubeConfig(url: string, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name, server: url, skipTLSVerify: true }],
    users: [{ name, token }],
    contexts: [{ name, cluster: name, user: name, namespace: 'default' }],
    currentContext: name,
  });
  return kc;
}

export function simKubeconfigYaml(url: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace: 'default' } }],
    'current-context': name,
  });
}
