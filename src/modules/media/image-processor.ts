import { encode as encodeBlurhash } from 'blurhash';
import { fileTypeFromBuffer } from 'file-type';
import sharp, { type Sharp } from 'sharp';
import { AppError } from '../../errors.ts';
import { Limiter } from './limiter.ts';
import { mediaErrors } from './media.errors.ts';

export type ImageFormat = 'jpg' | 'png' | 'webp' | 'gif' | 'avif';

export interface ImageLimits {
  maxPixels: number;
  originalMaxSide: number;
  previewMaxSide: number;
  concurrency: number;
}

export interface Encoded {
  bytes: Buffer;
  width: number;
  height: number;
}

/** A picture cropped to a fixed size (avatars, headers): one file and its blurhash. */
export interface CroppedImage {
  format: ImageFormat;
  image: Encoded;
  blurhash: string;
}

export interface ProcessedImage {
  format: ImageFormat;
  original: Encoded;
  preview: Encoded;
  blurhash: string;
}

/** What file-type calls the formats kith takes (an animated PNG is still a PNG). */
const ACCEPTED: Readonly<Record<string, ImageFormat>> = {
  jpg: 'jpg',
  png: 'png',
  apng: 'png',
  webp: 'webp',
  gif: 'gif',
  avif: 'avif',
};

const encoders: Record<ImageFormat, (s: Sharp) => Sharp> = {
  jpg: (s) => s.jpeg({ quality: 85, progressive: true }),
  png: (s) => s.png({ compressionLevel: 6 }),
  webp: (s) => s.webp({ quality: 85 }),
  gif: (s) => s.gif(),
  // AVIF encoding is slow: the lowest effort keeps an upload within a second or so.
  avif: (s) => s.avif({ quality: 60, effort: 0 }),
};

/**
 * Turns untrusted bytes into pictures kith can serve: the format sniffed from the bytes, the
 * pixel count checked from the header before anything is decoded, orientation applied, every
 * piece of metadata dropped (sharp writes none unless asked), the original re-encoded within
 * `originalMaxSide`, a WebP preview and a blurhash. At most `concurrency` pictures at once.
 */
export class ImageProcessor {
  readonly #limits: ImageLimits;
  readonly #limiter: Limiter;

  constructor(limits: ImageLimits) {
    this.#limits = limits;
    this.#limiter = new Limiter(limits.concurrency);
    // One libvips thread per picture: the limiter, not libvips, decides how many run at once.
    sharp.concurrency(1);
    sharp.cache(false);
  }

  /** The accepted format of `bytes`, from their content alone. */
  async sniff(bytes: Buffer): Promise<ImageFormat> {
    const type = await fileTypeFromBuffer(bytes);
    if (!type || !type.mime.startsWith('image/')) throw mediaErrors.notAnImage();
    const format = ACCEPTED[type.ext];
    if (!format) throw mediaErrors.unsupported(type.mime);
    return format;
  }

  async process(bytes: Buffer): Promise<ProcessedImage> {
    const format = await this.sniff(bytes);
    return this.#limiter.run(() => this.#process(bytes, format));
  }

  /**
   * The same checks and clean-up, then a crop to exactly `width`×`height` around the most
   * interesting part (sharp's attention strategy). Animations keep their first frame.
   */
  async crop(bytes: Buffer, width: number, height: number): Promise<CroppedImage> {
    const format = await this.sniff(bytes);
    return this.#limiter.run(async () => {
      const input = await this.#open(bytes, false);
      const out = await readable(() =>
        encoders[format](
          input.resize(width, height, { fit: 'cover', position: sharp.strategy.attention }),
        ).toBuffer({ resolveWithObject: true }),
      );
      const image = { bytes: out.data, width: out.info.width, height: out.info.height };
      return { format, image, blurhash: await blurhashOf(out.data) };
    });
  }

  async #process(bytes: Buffer, format: ImageFormat): Promise<ProcessedImage> {
    const animated = format === 'gif' || format === 'webp';
    const input = await this.#open(bytes, animated);
    const max = this.#limits.originalMaxSide;
    const out = await readable(() =>
      encoders[format](
        input.resize(max, max, { fit: 'inside', withoutEnlargement: true }),
      ).toBuffer({ resolveWithObject: true }),
    );
    const original = {
      bytes: out.data,
      width: out.info.width,
      // An animation's height is that of one frame.
      height: out.info.pageHeight ?? out.info.height,
    };
    return { format, original, ...(await this.#previewOf(original.bytes)) };
  }

  /** Opens the bytes after checking the pixel count in their header (no pixel decoded yet). */
  async #open(bytes: Buffer, animated: boolean): Promise<Sharp> {
    const options = {
      animated,
      autoOrient: true,
      failOn: 'warning' as const,
      // Also enforced by libvips itself, should a header lie about the size.
      limitInputPixels: this.#limits.maxPixels,
    };
    const meta = await readable(() =>
      sharp(bytes, { ...options, limitInputPixels: false }).metadata(),
    );
    if (!meta.width || !meta.height) throw mediaErrors.corrupt();
    if (meta.width * meta.height > this.#limits.maxPixels) {
      throw mediaErrors.tooManyPixels(this.#limits.maxPixels);
    }
    return sharp(bytes, options);
  }

  async #previewOf(original: Buffer): Promise<{ preview: Encoded; blurhash: string }> {
    const side = this.#limits.previewMaxSide;
    const small = await sharp(original)
      .resize(side, side, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    return {
      preview: { bytes: small.data, width: small.info.width, height: small.info.height },
      blurhash: await blurhashOf(small.data),
    };
  }
}

/** A blurred placeholder of a picture kith encoded itself. */
async function blurhashOf(picture: Buffer): Promise<string> {
  const thumb = await sharp(picture)
    .resize(32, 32, { fit: 'inside' })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return encodeBlurhash(
    new Uint8ClampedArray(thumb.data),
    thumb.info.width,
    thumb.info.height,
    4,
    3,
  );
}

/** Runs a sharp call; a failure to read the input becomes 422 `media_corrupt`. */
async function readable<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw mediaErrors.corrupt();
  }
}
