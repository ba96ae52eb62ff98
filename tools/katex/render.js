// Render TeX to KaTeX HTML for the docs build (tools/docs_maths.py), so pages show formulas without JavaScript.
// Usage: node render.js KATEX_JS   then one JSON request per line on stdin: {"tex": "...", "display": false};
// one JSON answer per line on stdout: {"html": "..."} or {"error": "..."} when the TeX does not parse.
const katex = require(process.argv[2]);
const readline = require("readline");

const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on("line", (line) => {
  const { tex, display } = JSON.parse(line);
  let answer;
  try {
    answer = { html: katex.renderToString(tex, { displayMode: display, throwOnError: true, strict: "ignore" }) };
  } catch (err) {
    answer = { error: String(err.message || err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
});
