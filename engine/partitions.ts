// Parsing of partition sets: "all", "0-31", "0,5,7-9".

export function parsePartitionSet(spec: string | undefined, partitions: number): number[] {
  if (spec === undefined || spec === "" || spec === "all") return [...Array(partitions).keys()];
  const out = new Set<number>();
  for (const part of spec.split(",")) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new RangeError(`bad partition set "${spec}": use "all", "0-31" or "0,5,7-9"`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from > to || to >= partitions) {
      throw new RangeError(`bad partition range "${part.trim()}": partitions are 0 … ${partitions - 1}`);
    }
    for (let p = from; p <= to; p++) out.add(p);
  }
  return [...out].sort((a, b) => a - b);
}
