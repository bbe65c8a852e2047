import { join } from 'node:path';
import type { Config } from '../../config.ts';
import { DiskStorage } from '../../infra/storage/disk-storage.ts';
import { S3Storage } from '../../infra/storage/s3-storage.ts';
import type { MediaStorage } from '../../infra/storage/storage.ts';
import { ConfigError } from '../../config.ts';

/** The folder of media files on disk. */
export const mediaDirOf = (config: Config) => config.mediaDir ?? join(config.dataDir, 'media');

/** The storage configuration asks for: the disk by default, S3 with `MEDIA_STORAGE=s3`. */
export function openMediaStorage(config: Config): MediaStorage {
  if (config.mediaStorage === 's3') {
    if (!config.s3Bucket) throw new ConfigError('MEDIA_STORAGE=s3 needs S3_BUCKET');
    const { s3AccessKeyId: accessKeyId, s3SecretAccessKey: secretAccessKey } = config;
    return new S3Storage({
      bucket: config.s3Bucket,
      region: config.s3Region,
      endpoint: config.s3Endpoint,
      forcePathStyle: config.s3ForcePathStyle,
      publicUrl: config.mediaPublicUrl ?? config.s3PublicUrl,
      credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    });
  }
  return new DiskStorage(
    mediaDirOf(config),
    config.mediaPublicUrl ?? `${config.publicUrl.replace(/\/+$/, '')}/media`,
  );
}
