// One run: its curves (redrawn while it trains), a playground streaming tokens from the OpenAI API, its
// attention maps and its surprise on a text, from the server's /api JSON.
const run = new URLSearchParams(location.search).get("run") || "last";
const $ = id => document.getElementById(id);

function say(element, text, isError) { element.textContent = text; element.classList.toggle("error", !!isError); }

async function json(url, options) {
  const answer = await fetch(url, options);
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error ? body.error.message : answer.statusText);
  return body;
}

async function refresh() {
  try {
    const data = await json("/api/runs/" + encodeURIComponent(run));
    $("title").textContent = data.name + " (" + data.guid.slice(0, 8) + ")";
    document.title = "littlebaby: " + data.name;
    say($("status"), data.status + ", " + data.steps.length + " steps");
    Plotly.react("loss", [
      {x: data.steps.map(s => s[0]), y: data.steps.map(s => s[1]), name: "train", mode: "lines"},
      {x: data.val.map(v => v[0]), y: data.val.map(v => v[2]), name: "val", mode: "lines+markers"},
    ], {title: {text: "loss"}, xaxis: {title: {text: "step"}}});
    Plotly.react("lr", [{x: data.steps.map(s => s[0]), y: data.steps.map(s => s[2]), name: "lr", mode: "lines"}],
                 {title: {text: "learning rate"}, xaxis: {title: {text: "step"}}});
    $("parameters").textContent = data.parameters;
    if (data.status === "running") setTimeout(refresh, 3000);
  } catch (error) { say($("status"), String(error.message || error), true); }
}

$("play").addEventListener("submit", async event => {
  event.preventDefault();
  const out = $("completion");
  say(out, $("prompt").value);
  const body = {model: run, prompt: $("prompt").value, max_tokens: +$("max-tokens").value, stream: true,
                temperature: +$("temperature").value, top_k: +$("top-k").value, seed: +$("seed").value};
  const answer = await fetch("/v1/completions", {method: "POST", headers: {"Content-Type": "application/json"},
                                                 body: JSON.stringify(body)});
  if (!answer.ok) { say(out, (await answer.json()).error.message, true); return; }
  const reader = answer.body.getReader(), decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    const events = buffer.split("\n\n"); buffer = events.pop();
    for (const event of events) {
      const data = event.replace(/^data: /, "");
      if (data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.error) { say(out, chunk.error.message, true); return; }
      out.textContent += chunk.choices[0].text;
    }
  }
  out.dataset.done = "true";
});

$("attend").addEventListener("submit", async event => {
  event.preventDefault();
  const query = new URLSearchParams({prompt: $("attention-prompt").value, layer: $("layer").value,
                                     head: $("head").value});
  try {
    const data = await json("/api/runs/" + encodeURIComponent(run) + "/attention?" + query);
    const labels = data.tokens.map((t, i) => i + " " + t);
    Plotly.react("attention", [{z: data.weights, x: labels, y: labels, type: "heatmap", colorscale: "Blues"}],
                 {title: {text: "layer " + $("layer").value + " of " + data.layers + ", head " + $("head").value +
                  " of " + data.heads}, yaxis: {autorange: "reversed", title: {text: "query"}},
                  xaxis: {title: {text: "key"}}});
    $("attention").dataset.shown = $("layer").value + "/" + $("head").value;
    const gates = Object.entries(data.gates);  // moh's heads gate, moe's experts gate: (tokens, heads or experts)
    if (gates.length) {
      Plotly.react("gates", gates.map(([name, z]) => ({z, y: labels, type: "heatmap", name, colorscale: "Greens"})),
                   {title: {text: gates.map(g => g[0]).join(", ") + " per token"}, yaxis: {autorange: "reversed"}});
    } else {
      Plotly.purge("gates");
    }
  } catch (error) { say($("attention"), String(error.message || error), true); }
});

$("surprise").addEventListener("submit", async event => {
  event.preventDefault();
  const query = new URLSearchParams({text: $("surprise-input").value});
  const out = $("surprise-text");
  try {
    const pairs = await json("/api/runs/" + encodeURIComponent(run) + "/surprise?" + query);
    const top = Math.max(...pairs.map(p => p[1]), 1e-9);
    out.replaceChildren(...pairs.map(([piece, loss]) => {
      const span = document.createElement("span");
      span.textContent = piece;
      span.title = loss.toFixed(2) + " nats";
      span.style.background = "rgba(220, 50, 47, " + (loss / top).toFixed(3) + ")";
      return span;
    }));
  } catch (error) { say(out, String(error.message || error), true); }
});

refresh();
