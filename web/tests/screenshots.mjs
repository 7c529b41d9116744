// Screenshots of the web catalog's main pages for the README, taken with Debian's chromium
// through playwright-core from a running wasmhub (browser.rs's `screenshots` test starts one
// and fills it with real clients first):
//
//   node screenshots.mjs <base-url> <user> <password> <out-dir>
//
// Writes <out-dir>/<page>.png in the light theme, and home-dark.png in the dark one.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, user, password, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node screenshots.mjs <base-url> <user> <password> <out-dir>");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const pages = [
  ["home", "/"],
  ["search", "/search?type=envoy_proxy&abi=0.2.1"],
  ["module", "/repositories/team/add-header/tags/v1"],
  ["repository", "/repositories/team/add-header"],
  ["namespace", "/namespaces/team"],
  ["login", "/login"],
];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  // As root in a container: no sandbox, and /dev/shm may be small.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const viewport = { width: 1200, height: 900 };
  const light = await browser.newContext({ baseURL: base, viewport, colorScheme: "light", deviceScaleFactor: 1 });
  const page = await light.newPage();
  for (const [name, path] of pages) {
    await page.goto(path);
    // Home and the module page whole: most pulled below the fold, referrers at the bottom.
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: name === "home" || name === "module" });
    console.log(`wrote ${name}.png (${path})`);
  }
  // Signed in: the header names the user; settings lists tokens and repositories.
  await page.goto("/login");
  await page.getByLabel("User name", { exact: true }).fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/$/);
  await page.goto("/settings");
  await page.getByLabel("Name", { exact: true }).fill("ci-pipeline");
  await page.getByRole("button", { name: "Create token" }).click();
  await page.locator("#token-secret").waitFor();
  await page.screenshot({ path: join(out, "settings.png") });
  console.log("wrote settings.png (/settings, after creating a token)");

  const dark = await browser.newContext({ baseURL: base, viewport, colorScheme: "dark", deviceScaleFactor: 1 });
  const darkPage = await dark.newPage();
  await darkPage.goto("/repositories/team/add-header/tags/v1");
  await darkPage.screenshot({ path: join(out, "module-dark.png") });
  console.log("wrote module-dark.png");
} finally {
  await browser.close();
}
