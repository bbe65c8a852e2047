import type { FastifyRequest } from 'fastify';
import { AppError } from '../../errors.ts';
import { mediaErrors } from './media.errors.ts';

export interface Upload {
  /** The bytes of the part named `field`, undefined when there was none. */
  files: Map<string, Buffer>;
  fields: Map<string, string>;
}

const FIELD_MAX_BYTES = 8 * 1024;

/**
 * Reads a multipart body: files held in memory up to `maxBytes` each (reading stops there: 413
 * `media_too_large`), text fields up to 8 KiB. Unknown file parts are refused, not stored.
 */
export async function readUpload(
  request: FastifyRequest,
  fileFields: readonly string[],
  maxBytes: number,
): Promise<Upload> {
  const upload: Upload = { files: new Map(), fields: new Map() };
  if (!request.isMultipart()) {
    throw new AppError(415, 'unsupported_media_type', 'Send the body as multipart/form-data.');
  }
  try {
    const parts = request.parts({
      limits: {
        fileSize: maxBytes,
        files: fileFields.length,
        fields: 8,
        parts: fileFields.length + 8,
        fieldSize: FIELD_MAX_BYTES,
      },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        if (!fileFields.includes(part.fieldname)) {
          part.file.resume();
          throw new AppError(400, 'unexpected_file', `No file is expected in "${part.fieldname}".`);
        }
        upload.files.set(part.fieldname, await part.toBuffer());
      } else {
        upload.fields.set(part.fieldname, String(part.value));
      }
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw mediaErrors.tooLarge(maxBytes);
    if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT' || code === 'FST_FIELDS_LIMIT') {
      throw new AppError(413, 'too_many_parts', 'The form has too many parts.');
    }
    throw new AppError(400, 'invalid_multipart', 'The multipart body cannot be read.');
  }
  return upload;
}
