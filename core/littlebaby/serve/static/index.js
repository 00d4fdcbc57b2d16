// The runs table: fetched from /api/runs every few seconds, sortable by any column, and a comparison of
// the ticked runs' val curves (by step and by training time), as `littlebaby compare` draws them.
let rows = [], sortKey = "date", ascending = true;
const ticked = new Set();

function cell(text) { const td = document.createElement("td"); td.textContent = text ?? "?"; return td; }

function render() {
  const body = document.querySelector("#runs tbody");
  const sorted = [...rows].sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    const order = x === y ? 0 : x === null || x === undefined ? 1 : y === null || y === undefined ? -1 : x < y ? -1 : 1;
    return ascending ? order : -order;
  });
  body.replaceChildren(...sorted.map(run => {
    const tr = document.createElement("tr");
    const box = document.createElement("input");
    box.type = "checkbox"; box.checked = ticked.has(run.guid);
    box.setAttribute("aria-label", "compare " + run.name);
    box.addEventListener("change", () => box.checked ? ticked.add(run.guid) : ticked.delete(run.guid));
    const pick = document.createElement("td"); pick.append(box);
    const link = document.createElement("a");
    link.href = "/run.html?run=" + encodeURIComponent(run.guid); link.textContent = run.name;
    const name = document.createElement("td"); name.append(link);
    tr.append(pick, name, cell(run.blocks), cell(run.params), cell(run.steps), cell(run.best_val_loss),
              cell(run.best_val_bpb), cell(run.seconds), cell(run.status));
    return tr;
  }));
  document.querySelectorAll("#runs th[data-key]").forEach(th => {
    th.setAttribute("aria-sort", th.dataset.key === sortKey ? (ascending ? "ascending" : "descending") : "none");
  });
}

async function refresh() {
  try {
    rows = await (await fetch("/api/runs")).json();
    document.getElementById("status").textContent = rows.length + " runs";
    render();
  } catch (error) {
    document.getElementById("status").textContent = "cannot reach the server: " + error;
  }
}

document.querySelectorAll("#runs th[data-key] button").forEach(button => button.addEventListener("click", () => {
  const key = button.parentElement.dataset.key;
  ascending = key === sortKey ? !ascending : true; sortKey = key; render();
}));

document.getElementById("compare").addEventListener("click", async () => {
  const runs = await Promise.all([...ticked].map(async guid => (await fetch("/api/runs/" + guid)).json()));
  const byStep = runs.map(r => ({x: r.val.map(v => v[0]), y: r.val.map(v => v[2]), name: r.name, mode: "lines+markers"}));
  const byTime = runs.map(r => ({x: r.val.map(v => v[1]), y: r.val.map(v => v[2]), name: r.name, mode: "lines+markers"}));
  Plotly.newPlot("compare-by-step", byStep, {title: {text: "val loss by step"}, xaxis: {title: {text: "step"}}});
  Plotly.newPlot("compare-by-time", byTime,
                 {title: {text: "val loss by training time"}, xaxis: {title: {text: "seconds"}}});
});

refresh();
setInterval(refresh, 5000);
