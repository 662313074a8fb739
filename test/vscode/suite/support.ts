// What every file of the VS Code suite starts from: the test cluster's
// settings (test/cluster/up.sh's env.sh), polling for what a user would see,
// and the activated extension connected to its daemon with the real cluster
// registered.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { ClustersAdd, ErrorCode } from '../../../daemon/protocol';
import type { SlurmMlApi } from '../../../extension/main';
import { until } from '../until';

export { until };

export const env = process.env;
export const clusterName = env.SLURM_ML_TEST_CLUSTER_NAME ?? 'slurmml';

/** Activates the extension, waits for its daemon and registers the test cluster (once). */
export async function activateWithTestCluster(): Promise<SlurmMlApi> {
  assert.ok(env.SLURM_ML_TEST_HOST, 'source /var/tmp/slurm-ml-cluster/env.sh (test/cluster/up.sh) first');
  const ext = vscode.extensions.getExtension<SlurmMlApi>('slurm-ml.slurm-ml');
  assert.ok(ext, 'the extension is loaded');
  const api = await ext.activate();
  assert.ok(api, 'activate returned its api (no activation error)');
  await until('the daemon connection', () => api.daemon.state.kind === 'connected', 60_000);
  try {
    await api.daemon.request(ClustersAdd, {
      name: clusterName,
      host: env.SLURM_ML_TEST_HOST!,
      port: Number(env.SLURM_ML_TEST_PORT),
      user: env.SLURM_ML_TEST_USER!,
      identityFile: env.SLURM_ML_TEST_IDENTITY!,
      knownHostsFile: env.SLURM_ML_TEST_KNOWN_HOSTS!,
    });
  } catch (err) {
    // Duck-typed: this bundle's RpcError class is not the extension's.
    if ((err as { code?: number }).code !== ErrorCode.AlreadyExists) throw err;
  }
  return api;
}
