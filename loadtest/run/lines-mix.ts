// --lines taobao=40,eleme=30,tmall=30: the share of orders on each business line. Weights
// need not add up to 100; a line the engines are not configured with is refused up front
// (its orders would all be dead letters, not load).

export class LinesMixError extends Error {
  override readonly name = "LinesMixError";
}

export function parseLinesMix(spec: string, knownLines: readonly string[]): Record<string, number> {
  const mix: Record<string, number> = {};
  for (const part of spec.split(",")) {
    const item = part.trim();
    if (item === "") continue;
    const m = /^([A-Za-z0-9_-]+)\s*[=:]\s*([0-9]+(?:\.[0-9]+)?)$/.exec(item);
    if (m === null) throw new LinesMixError(`--lines: "${item}" is not line=weight`);
    const [, line, weight] = m;
    if (!knownLines.includes(line)) throw new LinesMixError(`--lines: unknown line "${line}"; the configured lines are ${knownLines.join(", ")}`);
    if (line in mix) throw new LinesMixError(`--lines: "${line}" given twice`);
    mix[line] = Number(weight);
  }
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new LinesMixError("--lines: at least one line with a weight above 0");
  return mix;
}

/** "taobao 40 %, eleme 30 %": the mix as shares of 100. */
export function describeMix(mix: Readonly<Record<string, number>>): string {
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  return Object.entries(mix)
    .map(([l, w]) => `${l} ${Number(((w / total) * 100).toPrecision(3))} %`)
    .join(", ");
}
