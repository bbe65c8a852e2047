import { AppError } from '../../errors.ts';

/** The stable codes of refused uploads (see docs/MEDIA.md). */
export const mediaErrors = {
  missing: () => new AppError(400, 'media_missing', 'Send the picture as the `file` part.'),
  tooLarge: (max: number) =>
    new AppError(413, 'media_too_large', `The file is larger than ${max} bytes.`),
  notAnImage: () =>
    new AppError(422, 'media_not_an_image', 'The file is not a picture kith can read.'),
  unsupported: (what: string) =>
    new AppError(
      415,
      'media_unsupported_format',
      `${what} is not accepted: send JPEG, PNG, WebP, GIF or AVIF.`,
    ),
  corrupt: () =>
    new AppError(422, 'media_corrupt', 'The picture is truncated or corrupt and cannot be read.'),
  tooManyPixels: (max: number) =>
    new AppError(422, 'media_too_many_pixels', `The picture has more than ${max} pixels.`),
  tooMany: (max: number) =>
    new AppError(422, 'too_many_media', `A post carries at most ${max} pictures.`),
};
