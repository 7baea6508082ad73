// Front end of asha_nb's promotion view (LessonPlayer, an anywidget ESM).
// Bundled offline with vl-convert's javascript_bundle, which provides `vegaEmbed` (no CDN).
// The kernel ships the lesson's Vega-Lite spec once; a frame is the value of the spec's
// parameter `t`, set with view.signal("t", v): every mark and counter is computed in the
// browser from the same rows, so the numbers on screen always belong to the frame on screen.
// Controls: Play / Pause, Step to the next promotion, a time slider with a readout.
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
  label.style.cssText = "margin-left:6px; color:#444;";
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
  bar.append(play, step, restart, label, slider, readout);
  const box = document.createElement("div");
  box.className = "asha-vega";
  root.append(bar, box);
  el.appendChild(root);

  let view = null;
  let t = Number(model.get("t")) || 0;
  let timer = null;
  let generation = 0;
  let pending = Promise.resolve();

  const horizon = () => Number(model.get("horizon")) || 1;
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

  function animate(from, to, ms, done) {
    stop();
    const n = Math.max(1, Math.round(ms / Math.max(20, Number(model.get("interval")) || 80)));
    let i = 0;
    setTime(from);
    showPlay(true);
    timer = setInterval(() => {
      i += 1;
      setTime(from + (to - from) * Math.min(1, i / n));
      if (i >= n) { stop(); commit(); if (done) done(); }
    }, Math.max(20, Number(model.get("interval")) || 80));
  }

  play.addEventListener("click", () => {
    if (timer !== null) { stop(); commit(); return; }
    let from = t;
    if (from >= horizon() - 1e-9) from = 0;
    const remaining = horizon() - from;
    const ms = (remaining / frameStep()) * (Number(model.get("interval")) || 80);
    animate(from, horizon(), ms);
  });
  step.addEventListener("click", () => {
    const times = model.get("promotions") || [];
    const next = times.find((p) => p > t + 1e-9);
    if (next === undefined) { stop(); setTime(horizon()); commit(); return; }
    const tween = Number(model.get("tween")) || frameStep() * 3;
    animate(next, Math.min(horizon(), next + tween), 10 * (Number(model.get("interval")) || 80));
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

  function showError(e) {
    box.innerHTML = "<pre style='color:#d62728'>asha_nb lesson error: " + String(e) + "</pre>";
  }
  showPlay(false);
  setTime(t);
  embed().catch(showError);
  return () => {
    generation++;
    stop();
    if (view) view.finalize();
  };
}

export default { render };
