// Front end of asha_nb's VegaStream widget (anywidget ESM).
// Bundled offline with vl-convert's javascript_bundle, which provides `vegaEmbed` (no CDN). The kernel ships the Vega-Lite spec once (trait `spec`) and then sends ONE custom
// message per update:
//   {type: "update",
//    start:   {name: index of the first appended row},
//    append:  {name: [row, ...]},        // rows added to growing datasets (never re-sent)
//    replace: {name: [row, ...]},        // small datasets replaced as a whole
//    volatile: {name: [row, ...]},       // rows that replace the previous volatile rows of a
//                                        // growing dataset (running jobs among finished ones)
//    signals: {name: value},             // parameters such as `now`
//    running: {rows: [...], more: n}}    // the running-trials list (with a Stop button per row)
// ({type: "append", start, rows} is the older form of `append`.)
// Each view counts the rows it holds per appended dataset, so a message that overlaps rows it
// already has is trimmed and a gap makes it ask for a resync ({type: "resync"}). A Stop button
// sends {type: "stop_trial", trial_id}.
//
// Colours: the spec's text and guides use `currentColor` and a transparent background, so the
// SVG takes the page's text colour and background: JupyterLab's light and dark themes both work.

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;" }[c]));
}

function fmt(x, digits) {
  if (x === null || x === undefined) return "\u2013";
  if (typeof x !== "number") return esc(x);
  return Number(x.toPrecision(digits || 4)).toString();
}

function renderRunning(table, panel, model) {
  if (!panel) { table.style.display = "none"; return; }
  table.style.display = "";
  const rows = panel.rows || [];
  let html = "<div class='asha-running-title' style='font-weight:bold;margin:2px 0'>" +
    esc(panel.title || "Running trials") + "</div>";
  if (!rows.length) {
    html += "<div class='asha-running-empty' style='opacity:0.7'>" +
      esc(panel.empty || "no job is running") + "</div>";
  } else {
    html += "<table class='asha-running-table' style='border-collapse:collapse'>" +
      "<tr><th>trial</th><th>rung</th><th>resource</th><th>worker</th><th>running for</th>" +
      "<th></th></tr>";
    for (const r of rows) {
      const stuck = !!r.stuck;
      // a trial whose stop was requested: "stopping…" until its job really ends (the row goes
      // away then), and why it may not be cut short
      const action = stuck
        ? "<span class='asha-stuck' style='color:#d62728'>timed out; its thread cannot be " +
          "killed and keeps the worker busy</span>"
        : r.stopping
        ? "<span class='asha-stopping' style='font-style:italic' title='" + esc(r.why || "") +
          "'>stopping\u2026 " + "<span class='asha-stopping-why' style='opacity:0.8'>" +
          esc(r.why || "") + "</span></span>"
        : "<button class='asha-stop-row jupyter-button' data-trial='" + esc(r.trial_id) +
          "' title='search.stop_trial(" + esc(r.trial_id) + ")'>Stop</button>";
      html += "<tr class='asha-running-row' data-trial='" + esc(r.trial_id) + "'>" +
        "<td class='asha-rt-trial'>" + esc(r.trial_id) + "</td>" +
        "<td class='asha-rt-rung'>" + esc(r.rung) + "</td>" +
        "<td class='asha-rt-resource'>" + fmt(r.resource, 6) + "</td>" +
        "<td class='asha-rt-worker'>" + esc(r.worker) + "</td>" +
        "<td class='asha-rt-for'>" + Number(r.running_for).toFixed(1) + " s</td>" +
        "<td>" + action + "</td></tr>";
    }
    html += "</table>";
    if (panel.more) {
      html += "<div class='asha-running-more' style='opacity:0.7'>\u2026 and " +
        esc(panel.more) + " more</div>";
    }
  }
  table.innerHTML = html.replace(/<t([dh])>/g, "<t$1 style='padding:1px 8px;text-align:right'>")
    .replace(/<td class='([^']*)'>/g,
      "<td class='$1' style='padding:1px 8px;text-align:right'>");
  table.querySelectorAll("button.asha-stop-row").forEach((b) => {
    b.onclick = () => {
      b.disabled = true;
      b.textContent = "stopping\u2026";
      model.send({ type: "stop_trial", trial_id: parseInt(b.dataset.trial, 10) });
    };
  });
}

function render({ model, el }) {
  const table = document.createElement("div");
  table.className = "asha-running";
  table.style.display = "none";
  table.style.margin = "4px 0 6px 0";
  const box = document.createElement("div");
  box.className = "asha-vega";
  box.style.color = "inherit";
  el.appendChild(table);
  el.appendChild(box);
  let view = null;
  let counts = {};
  let queue = [];
  let generation = 0;
  let signals = {};
  let replaced = {};
  let volatile = {};

  function applyParams() {
    if (!view) return;
    const params = Object.assign({}, signals, model.get("params") || {});
    for (const [name, value] of Object.entries(params)) {
      try { view.signal(name, value); } catch (e) { /* unknown signal */ }
    }
    view.runAsync();
  }

  // One changeset per dataset per message: Vega applies only the last change made to a
  // dataset before the view runs, so an append and a volatile replacement of the same
  // dataset must travel together. (The bundle provides vegaEmbed, not the `vega` namespace:
  // changesets come from view.changeset().)
  function changeData(changes) {
    let changed = false;
    for (const [name, ch] of Object.entries(changes)) {
      try {
        const cs = view.changeset();
        if (ch.all) cs.remove(() => true);
        else if (ch.volatile) cs.remove((d) => d._volatile === true);
        if (ch.rows.length) cs.insert(ch.rows);
        view.change(name, cs);
        changed = true;
      } catch (e) { console.warn("asha_nb: cannot update", name, e); }
    }
    return changed;
  }

  function pending(changes, name) {
    if (!changes[name]) changes[name] = { all: false, volatile: false, rows: [] };
    return changes[name];
  }

  function apply(msg) {
    if (!msg || (msg.type !== "append" && msg.type !== "update")) return;
    if (msg.running !== undefined) renderRunning(table, msg.running, model);
    if (msg.signals) Object.assign(signals, msg.signals);
    if (msg.replace) Object.assign(replaced, msg.replace);
    if (msg.volatile) Object.assign(volatile, msg.volatile);
    if (!view) { queue.push(msg); return; }
    const starts = msg.start || {};
    const appended = msg.type === "append" ? msg.rows : msg.append;
    const changes = {};
    for (const [name, rows] of Object.entries(appended || {})) {
      const start = starts[name] || 0;
      const have = counts[name] || 0;
      if (start > have) { model.send({ type: "resync" }); return; }
      const fresh = rows.slice(have - start);
      if (fresh.length) {
        pending(changes, name).rows.push(...fresh);
        counts[name] = have + fresh.length;
      }
    }
    for (const [name, rows] of Object.entries(msg.replace || {})) {
      const ch = pending(changes, name);
      ch.all = true;
      ch.rows = rows.slice();
    }
    for (const [name, rows] of Object.entries(msg.volatile || {})) {
      const ch = pending(changes, name);
      ch.volatile = true;
      ch.rows.push(...rows.map((r) => Object.assign({}, r, { _volatile: true })));
    }
    let changed = changeData(changes);
    for (const [name, value] of Object.entries(msg.signals || {})) {
      try { view.signal(name, value); changed = true; } catch (e) { /* unknown signal */ }
    }
    if (changed) view.runAsync();
  }

  async function embed() {
    const gen = ++generation;
    if (view) { view.finalize(); view = null; }
    counts = {};
    box.innerHTML = "";
    const dark = document.body && document.body.dataset &&
      document.body.dataset.jpThemeLight === "false";
    const res = await vegaEmbed(box, model.get("spec"), {
      actions: false, renderer: "svg", tooltip: { theme: dark ? "dark" : "light" } });
    if (gen !== generation) { res.view.finalize(); return; }
    view = res.view;
    const initial = {};
    for (const [name, rows] of Object.entries(replaced)) {
      const ch = pending(initial, name);
      ch.all = true;
      ch.rows = rows.slice();
    }
    for (const [name, rows] of Object.entries(volatile)) {
      const ch = pending(initial, name);
      ch.volatile = true;
      ch.rows.push(...rows.map((r) => Object.assign({}, r, { _volatile: true })));
    }
    changeData(initial);
    applyParams();
    const pending = queue;
    queue = [];
    pending.forEach(apply);
    model.send({ type: "ready" });
  }

  model.on("msg:custom", apply);
  model.on("change:spec", embed);
  model.on("change:params", applyParams);
  embed().catch((e) => {
    box.innerHTML = "<pre style='color:#d62728'>asha_nb chart error: " + esc(e) + "</pre>";
  });
  return () => {
    generation++;
    if (view) view.finalize();
  };
}

export default { render };
