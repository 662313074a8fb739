// Set by esbuild from package.json; "dev" when run from source (tests).
declare const __SLURM_ML_VERSION__: string | undefined;

export const DAEMON_VERSION: string = typeof __SLURM_ML_VERSION__ === 'string' ? __SLURM_ML_VERSION__ : '0.0.0-dev';
