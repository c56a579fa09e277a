// partitionOf: the member → partition map. Stable forever: changing it moves every member.
//
//   lo = member mod 2^32,  hi = floor(member / 2^32)          (member ≤ 2^53 − 1, so hi < 2^21)
//   h  = fmix32(lo XOR fmix32(hi XOR 0x9E3779B9))             (all arithmetic on uint32)
//   partition = h mod partitions
//
// fmix32 is MurmurHash3's 32-bit finaliser:
//   h ^= h >>> 16; h = (h × 0x85EBCA6B) mod 2^32; h ^= h >>> 13; h = (h × 0xC2B2AE35) mod 2^32; h ^= h >>> 16
//
// It avalanches every input bit, so sequential ids and random ids spread alike; it needs
// only 32-bit integer operations, so any language computes it exactly.

import { MEMBER_MAX } from "./types.ts";

export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const TWO_POW_32 = 4294967296;

/** The 32-bit member hash behind partitionOf. */
export function memberHash32(member: number): number {
  const lo = member >>> 0;
  const hi = Math.floor(member / TWO_POW_32) >>> 0;
  return fmix32(lo ^ fmix32(hi ^ 0x9e3779b9));
}

export function partitionOf(member: number, partitions: number): number {
  if (!Number.isInteger(member) || member < 1 || member > MEMBER_MAX) {
    throw new RangeError(`member must be an integer 1 … 2^53−1, got ${member}`);
  }
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 65536) {
    throw new RangeError(`partitions must be an integer 1 … 65536, got ${partitions}`);
  }
  return memberHash32(member) % partitions;
}
