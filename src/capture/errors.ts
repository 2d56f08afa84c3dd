/**
 * The error a capture reader raises for a truncated or corrupt file: it names the byte offset
 * (in the uncompressed block stream) and the block type where reading stopped.
 *
 * @example
 * ```ts
 * throw new ScapFormatError("truncated file: block of 64 bytes has only 10", 4096, 0x216);
 * // message: "truncated file: ... in event block (type 0x216) at byte offset 4096"
 * ```
 * @module
 */
import { blockTypeName, hexType } from "./format.ts";

/** A capture file that cannot be read any further. */
export class ScapFormatError extends Error {
  /** Offset of the block that failed, from the start of the (uncompressed) capture. */
  readonly offset: number;
  /** Type of the block that failed, or -1 when not even its header could be read. */
  readonly blockType: number;

  constructor(message: string, offset: number, blockType = -1, file?: string) {
    const where = blockType < 0
      ? `at byte offset ${offset}`
      : `in ${blockTypeName(blockType)} block (type ${
        hexType(blockType)
      }) at byte offset ${offset}`;
    super(`${file ? file + ": " : ""}${message} ${where}`);
    this.name = "ScapFormatError";
    this.offset = offset;
    this.blockType = blockType;
  }
}

/** A problem inside one block body; the reader turns it into a {@link ScapFormatError}. */
export class BlockBodyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BlockBodyError";
  }
}
