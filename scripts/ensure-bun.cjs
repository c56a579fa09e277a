// Makes sure node_modules/.bin/bun is the real Bun binary. The `bun` npm package links its
// platform binary in a postinstall script, which npm skips when dependency install scripts
// are not approved (npm ≥ 11) or ignore-scripts is set; then this runs that one script.
// Plain Node (CommonJS) on purpose: it runs before Bun works.
const { execFileSync } = require("node:child_process");
const path = require("node:path");

const root = path.resolve(__dirname, "..");
const bun = path.join(root, "node_modules", ".bin", "bun");
const works = () => {
  try {
    execFileSync(bun, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

if (!works()) {
  console.error("ensure-bun: linking the Bun binary (the bun package's postinstall did not run)");
  execFileSync(process.execPath, ["install.js"], { cwd: path.join(root, "node_modules", "bun"), stdio: "inherit" });
  if (!works()) {
    console.error("ensure-bun: Bun still does not run; try: npm rebuild bun");
    process.exit(1);
  }
}
