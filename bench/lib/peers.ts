/**
 * The peers the daemon is measured against, each as the command a user would run:
 * `rclone copy`, `aws s3 cp --recursive` / `aws s3 sync`, and the bare SDK script.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from './daemon.js';

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
}

export function runCommand(command: string, args: string[], env: Record<string, string | undefined>): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000 }));
  });
}

/**
 * The environment of a peer: S3RVER's dummy credentials; AWS_CA_BUNDLE dropped (rclone's
 * SDK refuses to start when it is set, and nothing here uses TLS); checksums only when
 * required (newer botocore otherwise sends aws-chunked CRC32 bodies that s3rver stores
 * verbatim, corrupting objects).
 */
function peerEnv(extra: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env, ...extra };
  delete env.AWS_CA_BUNDLE;
  return env;
}

export interface PeerContext {
  endpoint: string;
  workDir: string;
  /** Credentials (s3rver's `S3RVER` when absent). */
  accessKey?: string;
  secretKey?: string;
}

export type PeerName = 'rclone' | 'rclone-16' | 'rclone-32' | 'aws-cp' | 'aws-sync' | 'sdk-32';

export async function runPeer(peer: PeerName, ctx: PeerContext, dir: string, bucket: string): Promise<CommandResult> {
  const accessKey = ctx.accessKey ?? 'S3RVER';
  const secretKey = ctx.secretKey ?? 'S3RVER';
  const awsEnv = peerEnv({
    AWS_ACCESS_KEY_ID: accessKey,
    AWS_SECRET_ACCESS_KEY: secretKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_REQUEST_CHECKSUM_CALCULATION: 'when_required',
    AWS_RESPONSE_CHECKSUM_VALIDATION: 'when_required',
    AWS_CONFIG_FILE: join(ctx.workDir, 'aws-config-empty'),
    AWS_SHARED_CREDENTIALS_FILE: join(ctx.workDir, 'aws-credentials-empty'),
  });
  switch (peer) {
    case 'rclone':
    case 'rclone-16':
    case 'rclone-32': {
      const config = join(ctx.workDir, 'rclone.conf');
      await writeFile(config, '');
      const env = peerEnv({
        RCLONE_CONFIG_BENCH_TYPE: 's3',
        RCLONE_CONFIG_BENCH_PROVIDER: 'Other',
        RCLONE_CONFIG_BENCH_ENDPOINT: ctx.endpoint,
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: accessKey,
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: secretKey,
        RCLONE_CONFIG_BENCH_REGION: 'us-east-1',
      });
      const tuned = /^rclone-(\d+)$/.exec(peer)?.[1];
      const tuning = tuned !== undefined ? ['--transfers', tuned, '--checkers', tuned] : [];
      return runCommand('rclone', ['--config', config, 'copy', ...tuning, dir, `bench:${bucket}`], env);
    }
    case 'aws-cp':
    case 'aws-sync': {
      await writeFile(join(ctx.workDir, 'aws-config-empty'), '');
      await writeFile(join(ctx.workDir, 'aws-credentials-empty'), '');
      const verb = peer === 'aws-cp' ? ['cp', '--recursive'] : ['sync'];
      return runCommand('aws', ['--endpoint-url', ctx.endpoint, 's3', ...verb, '--only-show-errors', dir, `s3://${bucket}/`], awsEnv);
    }
    case 'sdk-32':
      return runCommand(
        process.execPath,
        [
          join(projectRoot, 'dist', 'bench', 'sdk-client.js'),
          '--endpoint',
          ctx.endpoint,
          '--bucket',
          bucket,
          '--dir',
          dir,
          '--inflight',
          '32',
        ],
        peerEnv({ AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', BENCH_ACCESS_KEY: accessKey, BENCH_SECRET_KEY: secretKey }),
      );
  }
}
