/**
 * A position is a point in a source's change log. Each source kind has its own typed position
 * and a codec for it. Positions are never compared as strings or plain numbers: only through
 * `compare`, which throws FERRY_POSITION_INVALID for positions of different logs.
 */
export interface PositionCodec<P> {
  /** Stable text form, stored in checkpoints. `decode(encode(p))` equals `p`. */
  encode(p: P): string;
  /** Parses the text form; throws FERRY_POSITION_INVALID on malformed input. */
  decode(text: string): P;
  /** Negative when a is before b, 0 when equal, positive when after. */
  compare(a: P, b: P): number;
  /** Short human form for logs and status. */
  format(p: P): string;
}

export function maxPosition<P>(codec: PositionCodec<P>, a: P, b: P): P {
  return codec.compare(a, b) >= 0 ? a : b;
}

export function minPosition<P>(codec: PositionCodec<P>, a: P, b: P): P {
  return codec.compare(a, b) <= 0 ? a : b;
}
