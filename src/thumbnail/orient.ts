// EXIF orientation for animated sources: libvips cannot rotate a stack of frames, so the
// frames are decoded unrotated (shrunk first, to bound memory), each is rotated or mirrored
// on its own, and the stack is rebuilt in display orientation.
import sharp, { type Sharp, type SharpOptions } from "sharp";

/**
 * `image` turned from stored to display orientation for an EXIF `orientation` (1–8). sharp
 * mirrors before it rotates, whatever order the calls are made in.
 * @internal
 */
export function orient(image: Sharp, orientation: number): Sharp {
  switch (orientation) {
    case 2:
      return image.flop();
    case 3:
      return image.rotate(180);
    case 4:
      return image.flip();
    case 5: // transpose: mirrored, then a quarter turn anticlockwise
      return image.flop().rotate(270);
    case 6:
      return image.rotate(90);
    case 7: // transverse: mirrored, then a quarter turn clockwise
      return image.flop().rotate(90);
    case 8:
      return image.rotate(270);
    default:
      return image;
  }
}

/**
 * Decodes `frames` frames of `source` unrotated at `work` (the stored orientation's size,
 * never larger than the source) and returns them in display orientation as one raw stack.
 * @internal
 */
export async function orientedFrames(
  source: Buffer,
  options: SharpOptions,
  frames: number,
  orientation: number,
  work: { width: number; height: number },
): Promise<{ image: Sharp; frames: number }> {
  const { data, info } = await sharp(source, { ...options, autoOrient: false })
    .resize(work.width, work.height, { fit: "fill" })
    .raw({ depth: "uchar" })
    .toBuffer({ resolveWithObject: true });
  const pageHeight = info.pageHeight ?? Math.floor(info.height / frames);
  const count = Math.floor(info.height / pageHeight);
  const frameBytes = info.width * pageHeight * info.channels;
  const turned = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      orient(
        sharp(data.subarray(i * frameBytes, (i + 1) * frameBytes), {
          raw: { width: info.width, height: pageHeight, channels: info.channels },
        }),
        orientation,
      )
        .raw()
        .toBuffer({ resolveWithObject: true }),
    ),
  );
  const first = turned[0]!.info;
  const image = sharp(Buffer.concat(turned.map((t) => t.data)), {
    raw: {
      width: first.width,
      height: first.height * count,
      channels: first.channels,
      pageHeight: first.height,
    },
    pages: -1,
  });
  return { image, frames: count };
}
