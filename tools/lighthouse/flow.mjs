// Lighthouse on a page that a form post answers with the page itself, which its command
// line cannot send (bench/pages.py asks for this when the knowledge check answers its post
// rather than redirect to its feedback page): open the form's page, tick the first choice of
// each question, empty the cache, and let Lighthouse measure the navigation that the submit
// button makes. Same settings as the command-line runs of bench/lighthouse.py: the default
// (mobile) profile, the same categories, the session cookie as an extra header.
//
// node flow.mjs URL SUBMIT_SELECTOR COOKIE_HEADER OUTPUT.json   (CHROME_PATH: the browser)
import {writeFileSync} from 'node:fs';

import {startFlow} from 'lighthouse';
import puppeteer from 'puppeteer-core';

const [url, selector, cookie, output] = process.argv.slice(2);
if (!output) {
  console.error('usage: node flow.mjs URL SUBMIT_SELECTOR COOKIE_HEADER OUTPUT.json');
  process.exit(2);
}
const headers = {Cookie: cookie};
const browser = await puppeteer.launch({
  executablePath: process.env.CHROME_PATH,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const page = await browser.newPage();
  await page.setExtraHTTPHeaders(headers);
  const response = await page.goto(url, {waitUntil: 'load'});
  if (!response || response.status() !== 200) {
    throw new Error(`${url}: ${response ? response.status() : 'no response'}`);
  }
  const form = `form:has(${selector})`;
  await page.$$eval(`${form} fieldset`, (fieldsets) => {
    for (const fieldset of fieldsets) fieldset.querySelector('input')?.click();
  });
  const flow = await startFlow(page, {
    config: {
      extends: 'lighthouse:default',
      settings: {
        formFactor: 'mobile',
        onlyCategories: ['performance', 'accessibility', 'best-practices'],
        extraHeaders: headers,
      },
    },
  });
  // A callback navigation keeps the cache (Lighthouse cannot know the destination to reset):
  // emptied here, so that the page's bytes are a first visit's, as on the other pages.
  const cdp = await page.createCDPSession();
  await cdp.send('Network.clearBrowserCache');
  await flow.navigate(async () => {
    await page.click(selector);
  }, {name: 'knowledge-check feedback'});
  const result = await flow.createFlowResult();
  writeFileSync(output, JSON.stringify(result.steps[0].lhr));
} finally {
  await browser.close();
}
