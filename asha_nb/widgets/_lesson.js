// Front end of asha_nb's promotion view (LessonPlayer, an anywidget ESM).
// Bundled offline with vl-convert's javascript_bundle, which provides `vegaEmbed` (no CDN).
// The kernel ships the lesson's Vega-Lite spec once; a frame is the value of the spec's
// parameter `t`, set with view.signal("t", v): every mark and counter is computed in the
// browser from the same rows, so the numbers on screen always belong to the frame on screen.
// Controls: Play / Pause, Step to the next promotion (stops exactly at it), a speed control
// (0.25x-4x), a time slider with a readout, and the promotion log under the chart: every
// promotion up to the frame (time, panel, trial, rung -> rung, its value and the cutoff it
// beat), the frame's latest highlighted; a click on a row moves the frame there.
// The same code runs in the standalone HTML export with a stand-in model (see _lesson.py).

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "asha-lesson";
  root.style.cssText = "font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px;" +
    " max-width: 100%; overflow-x: auto;";
  const bar = document.createElement("div");
  bar.className = "asha-lesson-controls";
  bar.style.cssText = "display:flex; align-items:center; gap:8px; flex-wrap:wrap; margin:4px 0 8px 0;";
  const btnStyle = "padding:3px 10px; font-size:13px; cursor:pointer; border:1px solid #999;" +
    " border-radius:3px; background:#f4f4f4; color:#111;";
  const play = document.createElement("button");
  play.className = "asha-play";
  play.type = "button";
  play.style.cssText = btnStyle + " min-width:86px;";
  const step = document.createElement("button");
  step.className = "asha-step";
  step.type = "button";
  step.textContent = "\u25B6| Step to next promotion";
  step.title = "Play the next promotion (any panel) and stop";
  step.style.cssText = btnStyle;
  const restart = document.createElement("button");
  restart.className = "asha-restart";
  restart.type = "button";
  restart.textContent = "|\u25C0 Start";
  restart.title = "Back to t = 0";
  restart.style.cssText = btnStyle;
  const label = document.createElement("label");
  label.textContent = "time";
  label.style.cssText = "margin-left:6px; color:inherit;";
  const slider = document.createElement("input");
  slider.className = "asha-time";
  slider.type = "range";
  slider.min = "0";
  slider.step = "any";
  slider.style.cssText = "width:360px;";
  slider.setAttribute("aria-label", "time");
  const readout = document.createElement("span");
  readout.className = "asha-readout";
  readout.style.cssText = "font-variant-numeric: tabular-nums; min-width:130px; font-weight:bold;";
  const speed = document.createElement("select");
  speed.className = "asha-speed";
  speed.title = "Play speed";
  speed.setAttribute("aria-label", "play speed");
  speed.style.cssText = "font-size:13px; padding:2px;";
  for (const v of [0.25, 0.5, 1, 2, 4]) {
    const o = document.createElement("option");
    o.value = String(v);
    o.textContent = v + "\u00d7";
    if (v === 1) o.selected = true;
    speed.appendChild(o);
  }
  bar.append(play, step, restart, speed, label, slider, readout);
  const box = document.createElement("div");
  box.className = "asha-vega";
  const logBox = document.createElement("div");
  logBox.className = "asha-promo-log";
  logBox.style.cssText = "max-height:170px; overflow-y:auto; margin-top:6px; " +
    "border:1px solid rgba(128,128,128,0.45); padding:2px 4px; font-size:12px; max-width:980px;";
  root.append(bar, box, logBox);
  el.appendChild(root);

  let view = null;
  let t = Number(model.get("t")) || 0;
  let timer = null;
  let generation = 0;
  let pending = Promise.resolve();

  const horizon = () => Number(model.get("horizon")) || 1;
  const rate = () => Number(speed.value) || 1;
  const tick = () => Math.max(20, Number(model.get("interval")) || 80);

  // ---- the promotion log
  let logRows = [];
  function fmtv(x) {
    if (x === null || x === undefined) return "\u2013";
    return Number(Number(x).toPrecision(4)).toString();
  }
  function buildLog() {
    const log = model.get("log") || [];
    const multi = new Set(log.map((p) => p.scheduler)).size > 1;
    let html = "<div class='asha-log-title' style='font-weight:bold;margin:2px 0'>" +
      "Promotion log (up to the frame on screen; click a row to go there)</div>" +
      "<table style='border-collapse:collapse'><thead><tr>" +
      "<th>t (s)</th>" + (multi ? "<th>panel</th>" : "") +
      "<th>trial</th><th>rung</th><th>its value</th><th>cutoff it beat</th></tr></thead><tbody>";
    log.forEach((p, i) => {
      html += "<tr class='asha-log-row' data-i='" + i + "' data-time='" + p.time +
        "' style='cursor:pointer;display:none'>" +
        "<td>" + Number(p.time).toFixed(1) + "</td>" +
        (multi ? "<td>" + String(p.scheduler).replace(/[&<>]/g, "") + "</td>" : "") +
        "<td class='asha-log-trial'>#" + p.trial_id + "</td>" +
        "<td>" + p.from_rung + " \u2192 " + p.to_rung + "</td>" +
        "<td>" + fmtv(p.value) + "</td>" +
        "<td>" + (p.cutoff === null || p.cutoff === undefined
          ? "\u2013 (fewer than \u03b7 results)"
          : fmtv(p.cutoff) + " (of " + p.n_results + " results)") + "</td></tr>";
    });
    html += "</tbody></table>";
    logBox.innerHTML = html.replace(/<t([dh])>/g, "<t$1 style='padding:0 8px;text-align:right'>");
    logRows = Array.from(logBox.querySelectorAll("tr.asha-log-row"));
    logRows.forEach((tr) => {
      tr.addEventListener("click", () => { stop(); setTime(Number(tr.dataset.time)); commit(); });
    });
    logBox.style.display = log.length ? "" : "none";
    syncLog();
  }
  function syncLog() {
    // rows up to the frame; the frame's latest promotion(s) highlighted
    let last = -1;
    for (const tr of logRows) {
      const pt = Number(tr.dataset.time);
      if (pt <= t + 1e-9) last = Math.max(last, pt);
    }
    let current = null;
    for (const tr of logRows) {
      const pt = Number(tr.dataset.time);
      tr.style.display = pt <= t + 1e-9 ? "" : "none";
      const on = pt === last;
      tr.classList.toggle("asha-log-current", on);
      tr.style.background = on ? "rgba(255,127,14,0.25)" : "";
      tr.style.fontWeight = on ? "bold" : "";
      if (on && current === null) current = tr;
    }
    if (current) {  // keep the current row in view (inside the log box only)
      const top = current.getBoundingClientRect().top - logBox.getBoundingClientRect().top;
      if (top < 24 || top > logBox.clientHeight - 24) {
        logBox.scrollTop = Math.max(0, logBox.scrollTop + top - logBox.clientHeight / 2);
      }
    }
  }
  const frameStep = () => horizon() / Math.max(1, Number(model.get("frames")) || 1);

  function showPlay(playing) {
    play.textContent = playing ? "\u275A\u275A Pause" : "\u25B6 Play";
    play.title = playing ? "Pause the animation" : "Play the animation from here";
  }

  function setTime(v) {
    const h = horizon();
    t = Math.min(h, Math.max(0, Number(v)));
    slider.max = String(h);
    slider.value = String(t);
    readout.textContent = "t = " + t.toFixed(1) + " s of " + h.toFixed(1) + " s";
    syncLog();
    draw();
  }

  // Render the latest t; while a render runs, later times only mark the view dirty, so a slow
  // machine skips frames instead of queueing them (the readout above is always current).
  let rendering = false;
  let dirty = false;
  function draw() {
    if (!view) return;
    if (rendering) { dirty = true; return; }
    rendering = true;
    dirty = false;
    const v = view;
    try { v.signal("t", t); } catch (e) { /* spec without t */ }
    pending = v.runAsync().catch(showError).finally(() => {
      rendering = false;
      if (dirty && view === v) draw();
    });
  }

  function commit() {
    // write the frame on screen back to the kernel (only when the animation stops)
    if (Math.abs(Number(model.get("t")) - t) > 1e-12) {
      model.set("t", t);
      model.save_changes();
    }
  }

  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    showPlay(false);
  }

  // Move from `from` to `to` in `ms` milliseconds of wall time at 1x (divided by the speed);
  // the last step lands exactly on `to` (a promotion's time, not a rounding error before it).
  function animate(from, to, ms, done) {
    stop();
    const n = Math.max(1, Math.round(ms / rate() / tick()));
    let i = 0;
    setTime(from);
    showPlay(true);
    timer = setInterval(() => {
      i += 1;
      setTime(i >= n ? to : from + (to - from) * (i / n));
      if (i >= n) { stop(); commit(); if (done) done(); }
    }, tick());
  }

  play.addEventListener("click", () => {
    if (timer !== null) { stop(); commit(); return; }
    let from = t;
    if (from >= horizon() - 1e-9) from = 0;
    const remaining = horizon() - from;
    const ms = (remaining / frameStep()) * tick();
    animate(from, horizon(), ms);
  });
  step.addEventListener("click", () => {
    // play on to the next promotion event and stop exactly there (at most 2 s at 1x)
    const times = model.get("promotions") || [];
    const next = times.find((p) => p > t + 1e-9);
    if (next === undefined) { stop(); setTime(horizon()); commit(); return; }
    const ms = Math.min(2000, ((next - t) / frameStep()) * tick());
    animate(t, next, ms);
  });
  restart.addEventListener("click", () => { stop(); setTime(0); commit(); });
  slider.addEventListener("input", () => { stop(); setTime(slider.value); });
  slider.addEventListener("change", () => { commit(); });

  async function embed() {
    const gen = ++generation;
    stop();
    if (view) { view.finalize(); view = null; }
    box.innerHTML = "";
    const res = await vegaEmbed(box, model.get("spec"), { actions: false, renderer: "svg" });
    if (gen !== generation) { res.view.finalize(); return; }
    view = res.view;
    rendering = false;
    setTime(Number(model.get("t")));  // the kernel's frame for this spec (no stale frame)
    await pending;
    while (rendering) await pending;
    root.dataset.ready = String(gen);
  }

  model.on("change:spec", () => { embed().catch(showError); });
  model.on("change:t", () => {
    const v = Number(model.get("t"));
    if (Math.abs(v - t) > 1e-12) { stop(); setTime(v); }
  });
  model.on("change:horizon", () => setTime(Math.min(t, horizon())));
  model.on("change:log", buildLog);

  function showError(e) {
    box.innerHTML = "<pre style='color:#d62728'>asha_nb lesson error: " + String(e) + "</pre>";
  }
  showPlay(false);
  buildLog();
  setTime(t);
  embed().catch(showError);
  return () => {
    generation++;
    stop();
    if (view) view.finalize();
  };
}

export default { render };
