// Reads the env file that test/cluster/up.sh writes, so integration tests can
// find the local test cluster without the caller sourcing it first.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ClusterEnv {
  /** Directory holding env.sh, keys and known_hosts. */
  dir: string;
  host: string;
  port: number;
  user: string;
  /** Private key path for `user`. */
  identityFile: string;
  knownHostsFile: string;
  /** `SHA256:...` of the sshd host key, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  clusterName: string | undefined;
  account: string | undefined;
  partitions: string[];
  defaultPartition: string | undefined;
  qos: string[];
  fakeNodes: number;
  node: string | undefined;
  /** Every `export K=V` in the file, verbatim (for variables added later). */
  vars: Record<string, string>;
}

export function clusterDir(): string {
  return process.env.SLURM_ML_CLUSTER_DIR || '/var/tmp/slurm-ml-cluster';
}

export function clusterEnvPath(): string {
  return join(clusterDir(), 'env.sh');
}

/** Whether up.sh has finished at least once (env.sh is written at its end). */
export function clusterEnvExists(): boolean {
  return existsSync(clusterEnvPath());
}

/** Parses env.sh; throws with a hint to run the cluster script when it is missing. */
export function loadClusterEnv(path: string = clusterEnvPath()): ClusterEnv {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path} (${(err as NodeJS.ErrnoException).code}); start the test cluster with \`npm run cluster:up\``);
  }
  const vars = parseExports(text);
  const need = (k: string): string => {
    const v = vars[k];
    if (v === undefined || v === '') throw new Error(`${path} does not set ${k}`);
    return v;
  };
  const words = (k: string) => (vars[k] ?? '').split(/\s+/).filter(Boolean);
  const port = Number(need('SLURM_ML_TEST_PORT'));
  if (!Number.isInteger(port)) throw new Error(`${path}: SLURM_ML_TEST_PORT is not a number`);
  return {
    dir: vars.SLURM_ML_CLUSTER_DIR ?? clusterDir(),
    host: need('SLURM_ML_TEST_HOST'),
    port,
    user: need('SLURM_ML_TEST_USER'),
    identityFile: need('SLURM_ML_TEST_IDENTITY'),
    knownHostsFile: need('SLURM_ML_TEST_KNOWN_HOSTS'),
    hostKeyFingerprint: need('SLURM_ML_TEST_HOSTKEY_FP'),
    clusterName: vars.SLURM_ML_TEST_CLUSTER_NAME,
    account: vars.SLURM_ML_TEST_ACCOUNT,
    partitions: words('SLURM_ML_TEST_PARTITIONS'),
    defaultPartition: vars.SLURM_ML_TEST_DEFAULT_PARTITION,
    qos: words('SLURM_ML_TEST_QOS'),
    fakeNodes: Number(vars.SLURM_ML_TEST_FAKE_NODES ?? '0') || 0,
    node: vars.SLURM_ML_TEST_NODE,
    vars,
  };
}

/**
 * `export K=V` lines with V bare, 'single-quoted' or "double-quoted" (no
 * expansion: up.sh writes literal values). Other lines are ignored.
 */
export function parseExports(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const m = /^\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(raw.replace(/\r$/, ''));
    if (!m) continue;
    vars[m[1] as string] = unquote((m[2] as string).trim());
  }
  return vars;
}

function unquote(v: string): string {
  let out = '';
  let i = 0;
  while (i < v.length) {
    const c = v[i] as string;
    if (c === "'") {
      const end = v.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in env value: ${v}`);
      out += v.slice(i + 1, end);
      i = end + 1;
    } else if (c === '"') {
      i++;
      while (i < v.length && v[i] !== '"') {
        if (v[i] === '\\' && i + 1 < v.length) i++;
        out += v[i];
        i++;
      }
      i++;
    } else if (c === '\\' && i + 1 < v.length) {
      out += v[i + 1];
      i += 2;
    } else if (c === ' ' || c === '\t') {
      break; // end of the value (a trailing comment or another word follows)
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
