// The web catalog in a real browser (Debian's chromium through playwright-core), against a
// running wasmhub that crates/cli/tests/e2e/browser.rs has filled with real clients:
//   team/add-header:v1   a proxy-wasm filter (solo.io format, ABI 0.2.1), pushed by oras
//   apps/hello:1.0.0     a WASI command (CNCF Wasm artifact), pushed by oras
//
//   node catalog.mjs <base-url> <user> <password> <token-file>
//
// Walks what a visitor does: find the filter from the home page in two clicks (runtime type,
// then ABI), open it, filter its exports, copy a snippet (checked on the clipboard), search as
// they type, reach everything by keyboard, sign in, and create a token on /settings (its secret
// is written to <token-file> so the Rust side can push with it). Any failed check, page error
// or console error (a CSP violation is one) exits non-zero with the step that failed.

import { writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [base, user, password, tokenFile] = process.argv.slice(2);
if (!tokenFile) {
  console.error("usage: node catalog.mjs <base-url> <user> <password> <token-file>");
  process.exit(2);
}
const host = new URL(base).host;
let current = "start";
const problems = [];

function step(name) {
  current = name;
  console.log(`step: ${name}`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  headless: true,
  // As root in a container: no sandbox, and /dev/shm may be small.
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  const context = await browser.newContext({ baseURL: base });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`${current}: page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${current}: console error: ${message.text()}`);
  });

  step("the home page lists both modules and is keyboard-first");
  await page.goto("/");
  check((await page.title()) === "Home · wasmhub", `title is ${await page.title()}`);
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement.textContent);
  check(focused === "Skip to content", `the first Tab reaches ${JSON.stringify(focused)}`);
  const recent = await page.locator("#main").textContent();
  check(recent.includes("team/add-header:v1") && recent.includes("apps/hello:1.0.0"), "recently pushed lists both");

  step("click 1: runtime type envoy_proxy");
  await page.locator("section.facets a", { hasText: "envoy_proxy" }).first().click();
  await page.waitForURL(/\/search\?type=envoy_proxy$/);
  let results = await page.locator("#results").textContent();
  check(results.includes("team/add-header:v1") && !results.includes("apps/hello"), `results: ${results}`);

  step("click 2: ABI 0.2.1");
  await page.locator('section[aria-label="ABI"] a', { hasText: "0.2.1" }).click();
  await page.waitForURL(/type=envoy_proxy&abi=0\.2\.1/);
  results = await page.locator("#results").textContent();
  check(results.includes("team/add-header:v1"), `results: ${results}`);
  check((await page.locator("#found").textContent()) === "1 found", "one module matches");

  step("open the module page");
  await page.getByRole("link", { name: "team/add-header:v1" }).click();
  await page.waitForURL(/\/repositories\/team\/add-header\/tags\/v1$/);
  check((await page.locator("h1").textContent()) === "team/add-header:v1", "the page names the module");
  const facts = await page.locator("dl.facts").first().textContent();
  check(facts.includes("envoy_proxy") && facts.includes("0.2.1"), `facts: ${facts}`);

  step("filter the exports as one types");
  const exportsFilter = page.getByLabel("Filter exports");
  check(await exportsFilter.isVisible(), "the filter box is revealed by the script");
  await exportsFilter.fill("request");
  const visible = await page.locator("#list-exports li:visible").allTextContents();
  check(visible.length === 1 && visible[0].includes("proxy_on_request_headers"), `visible: ${visible}`);
  const counted = await page.locator('[data-filter-count="list-exports"]').textContent();
  check(/^1 of \d+ shown$/.test(counted), `count: ${counted}`);
  await exportsFilter.fill("");
  check((await page.locator("#list-exports li:visible").count()) > 1, "clearing shows all again");

  step("copy the Istio WasmPlugin snippet");
  const snippet = await page.locator("#s-istio").textContent();
  check(snippet.includes(`url: oci://${host}/team/add-header:v1`), `snippet: ${snippet}`);
  await page.getByRole("button", { name: "Copy the Istio WasmPlugin snippet" }).click();
  await page.getByRole("button", { name: "Copy the Istio WasmPlugin snippet" }).getByText("Copied").waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied === snippet, `the clipboard holds ${JSON.stringify(copied)}`);

  step("search as one types");
  await page.goto("/search");
  await page.locator("#f-q").pressSequentially("hello", { delay: 20 });
  await page.waitForURL(/\/search\?q=hello/);
  await page.locator("#results", { hasText: "apps/hello:1.0.0" }).waitFor();
  results = await page.locator("#results").textContent();
  check(!results.includes("team/add-header"), `results: ${results}`);

  step("sign in");
  await page.getByRole("link", { name: "Sign in" }).click();
  await page.getByLabel("User name", { exact: true }).fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/$/);
  const account = await page.locator(".account").textContent();
  check(account.includes(`Signed in as ${user}`), `header: ${account}`);

  step("create a token on /settings");
  await page.getByRole("link", { name: "Settings" }).click();
  await page.waitForURL(/\/settings$/);
  await page.getByLabel("Name", { exact: true }).fill("browser-test");
  check(await page.getByLabel("push", { exact: true }).isChecked(), "push is offered by default");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = (await page.locator("#token-secret").textContent()).trim();
  check(secret.startsWith("whub_"), `secret: ${secret}`);
  writeFileSync(tokenFile, secret);
  await page.goto("/settings");
  const settings = await page.locator("#main").textContent();
  check(settings.includes("browser-test") && !settings.includes(secret), "listed, and the secret is not shown again");

  check(problems.length === 0, problems.join("\n"));
  console.log("catalog: all steps passed");
} catch (error) {
  console.error(`catalog: FAILED at step "${current}": ${error.message}`);
  for (const problem of problems) console.error(problem);
  process.exitCode = 1;
} finally {
  await browser.close();
}
