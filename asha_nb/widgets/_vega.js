// Front end of asha_nb's VegaStream widget (anywidget ESM).
// Bundled offline with vl-convert's javascript_bundle, which provides `vegaEmbed` and `vega`
// (no CDN). The kernel ships the Vega-Lite spec once (trait `spec`) and then only *appends*
// rows to named datasets with custom messages:
//   {type: "append", start: {name: index of the first row}, rows: {name: [row, ...]}}
// Each view counts the rows it holds per dataset, so a message that overlaps rows it already
// has is trimmed and a gap makes it ask for a resync ({type: "resync"}). Params (e.g. the
// animation time) are set with view.signal(), never by re-sending data.

function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "asha-vega";
  el.appendChild(box);
  let view = null;
  let counts = {};
  let queue = [];
  let generation = 0;

  function applyParams() {
    if (!view) return;
    const params = model.get("params") || {};
    for (const [name, value] of Object.entries(params)) {
      try { view.signal(name, value); } catch (e) { /* unknown signal */ }
    }
    const fp = model.get("frame_param");
    if (fp) {
      try { view.signal(fp, model.get("frame") * model.get("frame_step")); } catch (e) { }
    }
    view.runAsync();
  }

  function apply(msg) {
    if (!msg || msg.type !== "append") return;
    if (!view) { queue.push(msg); return; }
    const starts = msg.start || {};
    let changed = false;
    for (const [name, rows] of Object.entries(msg.rows || {})) {
      const start = starts[name] || 0;
      const have = counts[name] || 0;
      if (start > have) { model.send({ type: "resync" }); return; }
      const fresh = rows.slice(have - start);
      if (fresh.length) {
        try {
          view.insert(name, fresh);
          counts[name] = have + fresh.length;
          changed = true;
        } catch (e) { console.warn("asha_nb: cannot insert into", name, e); }
      }
    }
    if (changed) view.runAsync();
  }

  async function embed() {
    const gen = ++generation;
    if (view) { view.finalize(); view = null; }
    counts = {};
    box.innerHTML = "";
    const res = await vegaEmbed(box, model.get("spec"), { actions: false, renderer: "svg" });
    if (gen !== generation) { res.view.finalize(); return; }
    view = res.view;
    applyParams();
    const pending = queue;
    queue = [];
    pending.forEach(apply);
    model.send({ type: "ready" });
  }

  model.on("msg:custom", apply);
  model.on("change:spec", embed);
  model.on("change:params", applyParams);
  model.on("change:frame", applyParams);
  embed().catch((e) => {
    box.innerHTML = "<pre style='color:#d62728'>asha_nb chart error: " + String(e) + "</pre>";
  });
  return () => {
    generation++;
    if (view) view.finalize();
  };
}

export default { render };
