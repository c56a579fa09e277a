// The balanced target: which live member should own which partition. A pure function of the
// sorted member ids and the partition count, so every process computes the same answer from
// the same membership, with no messages between them.
//
// Rendezvous hashing with bounded loads: partition p goes to the member with the highest
// score(member, p) that still has room, where the room of member i (in sorted order) is
// ⌊P/n⌋, plus one for the first P mod n members. So every member gets ⌊P/n⌋ or ⌈P/n⌉ (64
// over 3 → 22, 21, 21), and a member that joins or leaves moves mostly its own share —
// unlike p mod n, which reshuffles almost everything when n changes.

import { fmix32 } from "../../proto/partition.ts";

/** Per partition, the index (in sorted `members`) of its target owner; -1 with no members. */
export function assign(members: readonly string[], partitions: number): Int32Array {
  const n = members.length;
  const owner = new Int32Array(partitions).fill(-1);
  if (n === 0) return owner;
  assertSortedUnique(members);
  const seeds = members.map(idHash32);
  const room = members.map((_, i) => Math.floor(partitions / n) + (i < partitions % n ? 1 : 0));
  const order = members.map((_, i) => i);
  for (let p = 0; p < partitions; p++) {
    const score = seeds.map((seed) => fmix32(seed ^ fmix32(p + 0x9e3779b9)));
    // Highest score first; ties (2^-32) go to the lower index, so the order is total.
    order.sort((a, b) => score[b] - score[a] || a - b);
    const chosen = order.find((i) => room[i] > 0)!;
    room[chosen]--;
    owner[p] = chosen;
  }
  return owner;
}

/** The partitions `me` should own, ascending; empty when `me` is not a member. */
export function targetOf(members: readonly string[], partitions: number, me: string): number[] {
  const index = members.indexOf(me);
  if (index < 0) return [];
  const owner = assign(members, partitions);
  const mine: number[] = [];
  for (let p = 0; p < partitions; p++) if (owner[p] === index) mine.push(p);
  return mine;
}

/** FNV-1a over the id's UTF-16 units, finished with fmix32: stable in any language. */
export function idHash32(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

function assertSortedUnique(members: readonly string[]): void {
  for (let i = 1; i < members.length; i++) {
    if (!(members[i - 1] < members[i])) throw new Error(`members must be sorted and unique: ${members[i - 1]} before ${members[i]}`);
  }
}
