/* PolicyLab dashboard: plain JS over the HTTP API; plotly.js is served by the same server. */
"use strict";

(function () {
  const COLOURS = ["#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d68910", "#17869e", "#6c757d", "#a0522d"];
  const DEBOUNCE_MS = 250;
  const state = {
    models: [], model: null, info: null, scenario: null, params: {}, variables: [],
    compare: [], tab: "trajectories", version: 0, rows: {}, inflight: {}, timer: null, zoom: 1, fitted: false, selectedEdge: null,
  };
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  };

  /* ---------- API ---------- */
  const token = (() => {
    const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
    if (m) { sessionStorage.setItem("policylab-token", decodeURIComponent(m[1])); history.replaceState(null, "", location.pathname + location.search); }
    return sessionStorage.getItem("policylab-token");
  })();

  async function api(path, body, key) {
    if (key && state.inflight[key]) state.inflight[key].abort();
    const ctrl = new AbortController();
    if (key) state.inflight[key] = ctrl;
    const headers = {"Accept": "application/json"};
    if (token) headers["Authorization"] = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      const res = await fetch(path, {method: body === undefined ? "GET" : "POST", headers, signal: ctrl.signal,
                                     body: body === undefined ? undefined : JSON.stringify(body)});
      const type = res.headers.get("content-type") || "";
      const data = type.includes("json") ? await res.json() : await res.text();
      if (!res.ok) throw new Error(data && data.detail ? data.detail : res.status + " " + res.statusText);
      return data;
    } finally {
      if (key && state.inflight[key] === ctrl) delete state.inflight[key];
    }
  }

  function setStatus(kind, text) {
    const s = $("#status");
    s.dataset.state = kind;
    s.textContent = text;
  }

  /* ---------- formatting ---------- */
  const fmt = (v) => {
    if (v === null || v === undefined || Number.isNaN(v)) return "–";
    const a = Math.abs(v);
    if (a === 0) return "0";
    if (a >= 1e6 || a < 1e-3) return v.toExponential(2);
    if (a >= 1000) return v.toLocaleString("en", {maximumFractionDigits: 0});
    return Number(v.toPrecision(3)).toString();
  };
  const fmtDate = (x) => {
    if (typeof x !== "string") return String(x);
    const d = new Date(x + "T00:00:00Z");
    return d.toLocaleDateString("en-GB", {day: "numeric", month: "short", year: "numeric", timeZone: "UTC"});
  };
  const displayName = (name) => {
    const v = state.info && state.info.variables.find((x) => x.name === name);
    return v ? v.display : name;
  };
  const unitsOf = (name) => {
    const v = state.info && state.info.variables.find((x) => x.name === name);
    return v && v.units && v.units !== "1" ? v.units : "";
  };
  const rgba = (hex, a) => `rgba(${parseInt(hex.slice(1, 3), 16)},${parseInt(hex.slice(3, 5), 16)},${parseInt(hex.slice(5, 7), 16)},${a})`;

  /* ---------- charts ---------- */
  function fanTraces(x, bands, name, colour, showLegend) {
    const line = {width: 0};
    return [
      {x, y: bands.high, mode: "lines", line, hoverinfo: "skip", showlegend: false, legendgroup: name, name: name + " 90 %"},
      {x, y: bands.low, mode: "lines", line, fill: "tonexty", fillcolor: rgba(colour, 0.2), hoverinfo: "skip", showlegend: false, legendgroup: name, name: name + " 10 %"},
      {x, y: bands.median, mode: "lines", line: {width: 2, color: colour}, name, legendgroup: name, showlegend: showLegend,
       hovertemplate: name + ": %{y:.4g}<extra></extra>"},
    ];
  }

  function marks(policyDates) {
    const shapes = [], annotations = [];
    for (const ev of state.info.events) {
      for (const x of ev.x) {
        shapes.push({type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1, layer: "below",
                     line: {color: "rgba(90,90,90,0.35)", width: 1, dash: "dot"}});
        annotations.push({x, xref: "x", y: 1, yref: "paper", yanchor: "bottom", text: "▾", showarrow: false,
                          font: {size: 10, color: "#777"}, hovertext: `<b>${ev.display}</b> (${fmtDate(x)})`});
      }
    }
    for (const when of new Set(policyDates.filter((d) => d !== null && d !== undefined))) {
      shapes.push({type: "line", xref: "x", yref: "paper", x0: when, x1: when, y0: 0, y1: 1,
                   line: {color: "rgba(31,95,168,0.6)", width: 1.3, dash: "dash"}});
      annotations.push({x: when, xref: "x", y: 0.98, yref: "paper", xanchor: "left", yanchor: "top", text: " policy from",
                        showarrow: false, font: {size: 10, color: "#1f5fa8"}});
    }
    return {shapes, annotations};
  }

  function layout(title, y, policyDates, extra) {
    const m = marks(policyDates);
    return Object.assign({
      title: {text: title, x: 0, xanchor: "left", font: {size: 14}},
      font: {family: "system-ui, -apple-system, Segoe UI, Roboto, Helvetica Neue, Arial, sans-serif", size: 11.5, color: "#222"},
      margin: {l: 58, r: 14, t: 42, b: 36}, height: 330, hovermode: "x unified", showlegend: false,
      xaxis: {showgrid: true, gridcolor: "#eee", linecolor: "#999"},
      yaxis: {title: {text: y}, showgrid: true, gridcolor: "#eee", zeroline: false, linecolor: "#999"},
      paper_bgcolor: "white", plot_bgcolor: "white", shapes: m.shapes, annotations: m.annotations,
    }, extra || {});
  }

  const PLOT_CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"]};

  function drawFans(result, reference) {
    const box = $("#charts");
    const keep = new Set(state.variables);
    for (const node of [...box.children]) if (!keep.has(node.dataset.variable)) { Plotly.purge(node); node.remove(); }
    state.variables.forEach((name, i) => {
      let node = box.querySelector(`.fan[data-variable="${CSS.escape(name)}"]`);
      if (!node) { node = el("div", {class: "fan", "data-variable": name}); box.append(node); }
      if (node !== box.children[i]) box.insertBefore(node, box.children[i]);
      const bands = result.series[name];
      if (!bands) return;
      const colour = COLOURS[Math.max(0, state.info.scenarios.indexOf(result.scenario)) % COLOURS.length];
      const units = unitsOf(name);
      const traces = fanTraces(result.x, bands, result.scenario || state.info.name, colour, false);
      if (reference && reference.series[name]) {
        traces.push({x: reference.x, y: reference.series[name].median, mode: "lines", name: "as written", showlegend: false,
                     line: {width: 1.3, color: "#777", dash: "dot"}, hovertemplate: "scenario as written: %{y:.4g}<extra></extra>"});
      }
      Plotly.react(node, traces,
                   layout(displayName(name) + (units ? ` (${units})` : ""), units, [result.policy_date]), PLOT_CONFIG);
      node.dataset.version = String(state.version);
    });
    drawOutcomes($("#outcome-table"), result.outcomes, [result.scenario], reference ? reference.outcomes : null);
  }

  const pct = (v) => (v === null || v === undefined ? "–" : `${fmt(100 * v)} %`);

  // One table cell under the project's interval convention (docs/cli.md): median [band], or a share [Wilson].
  function cellText(row, c) {
    if (!c) return "–";
    if (row.probability) return c.runs > 1 ? `${pct(c.share)} [${pct(c.low)}–${pct(c.high)}]` : fmt(c.share);
    return c.runs > 1 ? `${fmt(c.median)} [${fmt(c.low)}–${fmt(c.high)}]` : fmt(c.median);
  }

  // What a cell adds below its value: the threshold's share, the two modes of a bimodal outcome, failed runs.
  function cellNotes(row, c) {
    if (!c) return [];
    const notes = [];
    if (c.share_at_least_threshold !== null && c.share_at_least_threshold !== undefined) notes.push(`${row.threshold}: ${pct(c.share_at_least_threshold)} of runs`);
    if (c.bimodal) notes.push(`bimodal: ${pct(c.bimodal.share_below)} < ${fmt(c.bimodal.split)} ≤ ${pct(c.bimodal.share_above)}`);
    if (c.failed_runs) notes.push(`${c.failed_runs} runs failed`);
    return notes;
  }

  function cell(row, c, role) {
    return el("td", {class: "num", "data-role": role}, el("span", {class: "value", text: cellText(row, c)}),
              ...cellNotes(row, c).map((n) => el("div", {class: "note", text: n})));
  }

  // The change a setting makes to an outcome: medians (or shares, in percentage points) under common random numbers.
  function differenceText(row, c, ref) {
    if (!c || !ref) return "–";
    const signed = (v) => (v > 0 ? "+" : v < 0 ? "−" : "±") + fmt(Math.abs(v));
    if (row.probability) return c.share === null || ref.share === null ? "–" : `${signed(100 * (c.share - ref.share))} pp`;
    if (c.median === null || ref.median === null) return "–";
    const d = c.median - ref.median;
    if (d === 0) return "±0";
    return signed(d) + (ref.median ? ` (${signed(100 * d / Math.abs(ref.median))} %)` : "");
  }

  // Outcomes per scenario; with `reference` (the scenario as written), the setting's row, the reference and their difference.
  function drawOutcomes(table, rows, scenarios, reference) {
    table.replaceChildren();
    if (!rows.length) { table.append(el("caption", {class: "hint", text: "This model declares no outcomes."})); return; }
    const swatch = (s) => el("span", {class: "swatch", style: `background:${COLOURS[Math.max(0, state.info.scenarios.indexOf(s)) % COLOURS.length]}`});
    const head = el("tr", {}, el("th", {text: "outcome"}));
    const label = "median [10–90 % of runs]";  // the project's interval convention (docs/cli.md)
    if (reference) {
      const s = scenarios[0];
      head.append(el("th", {class: "num"}, swatch(s), `${s || "model"}, as set`), el("th", {class: "num", text: "as written"}),
                  el("th", {class: "num", title: "median of the setting minus median as written (shares: percentage points)", text: "difference"}));
    } else {
      scenarios.forEach((s) => head.append(el("th", {class: "num"}, swatch(s), s || "model")));
    }
    table.append(el("caption", {class: "hint", text: reference
      ? `Each cell: ${label}; shares with their 80 % Wilson interval. Both columns run the same samples and random streams, so the difference is the settings' effect on the median (shares: percentage points).`
      : `Each cell: ${label}; shares with their 80 % Wilson interval. Move a slider to see the difference from the scenario as written.`}));
    table.append(el("thead", {}, head));
    const body = el("tbody");
    const written = new Map((reference || []).map((r) => [r.name, r]));
    for (const row of rows) {
      const title = row.label + (row.units && !row.probability ? ` (${row.units})` : "");
      const tr = el("tr", {"data-outcome": row.name}, el("td", {}, el("b", {text: title}), row.doc ? el("div", {class: "doc", text: row.doc}) : null));
      for (const s of scenarios) tr.append(cell(row, row.values[s], "value"));
      if (reference) {
        const ref = written.get(row.name), s = scenarios[0];
        tr.append(cell(row, ref && ref.values[s], "as-written"),
                  el("td", {class: "num diff", "data-role": "difference", text: differenceText(row, row.values[s], ref && ref.values[s])}));
      }
      body.append(tr);
    }
    table.append(body);
  }

  function drawCompare(result) {
    drawOutcomes($("#compare-table"), result.table, Object.keys(result.scenarios));
    const box = $("#compare-charts");
    box.querySelectorAll(".compare-chart").forEach((n) => Plotly.purge(n));
    box.replaceChildren();
    const names = Object.keys(result.scenarios);
    for (const variable of state.variables) {
      let lo = Infinity, hi = -Infinity;
      for (const n of names) for (const k of ["low", "high"]) for (const v of result.scenarios[n][variable][k]) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      const pad = (hi - lo) * 0.05 || 1;
      const grid = el("div", {class: "compare-grid", style: `grid-template-columns: repeat(${names.length}, minmax(0, 1fr))`});
      box.append(el("div", {class: "compare-row"}, el("h4", {text: displayName(variable) + (unitsOf(variable) ? ` (${unitsOf(variable)})` : "")}), grid));
      names.forEach((n) => {
        const node = el("div", {class: "compare-chart", "data-variable": variable, "data-scenario": n});
        grid.append(node);
        const colour = COLOURS[Math.max(0, state.info.scenarios.indexOf(n)) % COLOURS.length];
        Plotly.newPlot(node, fanTraces(result.x, result.scenarios[n][variable], n, colour, false),
                       layout(n, "", [result.policy_dates[n]], {height: 260, margin: {l: 50, r: 8, t: 34, b: 30},
                         yaxis: {range: [lo - pad, hi + pad], showgrid: true, gridcolor: "#eee", zeroline: false}}), PLOT_CONFIG);
      });
    }
    box.dataset.version = String(state.version);
  }

  /* ---------- simulation requests ---------- */
  function requestBody() {
    return {params: Object.assign({}, state.params), runs: state.info.limits.dashboard_runs, seed: 0, variables: state.variables};
  }

  async function refresh() {
    if (!state.info) return;
    writeUrl();
    state.version += 1;
    const version = state.version;
    document.body.classList.add("busy");
    setStatus("busy", `simulating ${state.info.limits.dashboard_runs} runs…`);
    const started = performance.now();
    try {
      if (state.tab === "compare") {
        const result = await api(`/api/models/${state.model}/compare`, Object.assign(requestBody(), {scenarios: state.compare}), "sim");
        if (version !== state.version) return;
        drawCompare(result);
      } else {
        const body = Object.assign(requestBody(), {scenario: state.scenario});
        const asWritten = Object.keys(state.params).length  // the untouched scenario, for reference (cached by the server)
          ? api(`/api/models/${state.model}/run`, Object.assign({}, body, {params: {}}), "reference") : Promise.resolve(null);
        const [result, reference] = await Promise.all([api(`/api/models/${state.model}/run`, body, "sim"), asWritten]);
        if (version !== state.version) return;
        drawFans(result, reference);
      }
      document.body.classList.remove("busy");
      setStatus("idle", `updated in ${Math.round(performance.now() - started)} ms`);
    } catch (err) {
      if (err.name === "AbortError") return;
      document.body.classList.remove("busy");
      setStatus("error", err.message);
    }
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(refresh, DEBOUNCE_MS);
  }

  /* ---------- controls ---------- */
  // One slider: its value (or what applies untouched), its range's ends and units, and the full description.
  function slider(p, kind) {
    const [lo, hi] = p.range || [Math.min(0, p.baseline ?? p.value), Math.max(1, p.baseline ?? p.value)];
    const asWritten = () => (kind === "lever" ? (p.level[state.scenario] ?? p.baseline) : p.value);
    const units = p.units && p.units !== "1" ? p.units : "";
    const input = el("input", {type: "range", min: lo, max: hi, step: (hi - lo) / 100 || 0.01, value: asWritten(),
                              "data-param": p.name, "aria-label": p.display});
    const out = el("output", {"data-param": p.name});
    const row = el("div", {class: "param", "data-name": p.name, "data-kind": kind, "data-sector": p.sector || ""});
    const show = () => {
      const touched = p.name in state.params;
      if (touched) {
        input.value = state.params[p.name];
        out.replaceChildren(fmt(state.params[p.name]) + (units ? " " + units : ""));
        out.title = "set by you; ↺ goes back to the scenario's value";
      } else if (kind === "lever") {
        input.value = asWritten();
        out.replaceChildren(fmt(asWritten()) + (units ? " " + units : ""), el("span", {class: "tag", text: "scenario"}));
        out.title = "the scenario's level from its policy date";
      } else {
        input.value = p.value;
        out.replaceChildren(el("span", {class: "tag", text: "sampled"}));
        out.title = `sampled over ${fmt(lo)}–${fmt(hi)} in each run (nominal ${fmt(p.value)})`;
      }
      out.classList.toggle("untouched", !touched);
      row.classList.toggle("set", touched);
    };
    const reset = el("button", {type: "button", class: "reset", title: "back to the scenario's value", "aria-label": "reset " + p.display,
      onclick: () => { delete state.params[p.name]; show(); schedule(); }}, "↺");
    input.addEventListener("input", () => { state.params[p.name] = Number(input.value); show(); schedule(); });
    const ends = el("div", {class: "ends", "aria-hidden": "true"}, el("span", {text: fmt(lo)}),
                    el("span", {class: "units", text: units}), el("span", {text: fmt(hi)}));
    row.append(el("div", {class: "head"}, el("label", {title: p.name, text: p.display}), out, reset), input, ends,
               p.doc ? el("div", {class: "doc", text: p.doc}) : null);
    state.rows[p.name] = show;
    show();
    return row;
  }

  // Judgement parameters under their model's `sector:` headings (one flat list when the model declares none).
  function judgementGroups() {
    const order = new Map(state.info.variables.map((v, i) => [v.name, i]));  // the model file's order
    const groups = new Map();
    for (const p of [...state.info.judgements].sort((a, b) => (order.get(a.name) ?? 0) - (order.get(b.name) ?? 0))) {
      const key = p.sector || "";
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(p);
    }
    if (groups.size === 1 && groups.has("")) return state.info.judgements.map((p) => slider(p, "judgement"));
    return [...groups].map(([sector, list]) => el("details", {class: "sector", "data-sector": sector,
                                                              open: list.some((p) => p.name in state.params)},
      el("summary", {}, sector || "Other", el("span", {class: "count", text: ` (${list.length})`})),
      ...list.map((p) => slider(p, "judgement"))));
  }

  // The search box: parameters whose name, description or sector hold every word; their groups opened.
  function filterJudgements() {
    const words = $("#judgement-filter").value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    document.querySelectorAll("#judgements .param").forEach((row) => {
      const p = state.info.judgements.find((j) => j.name === row.dataset.name);
      const text = [p.name, p.display, p.doc, p.sector, p.basis].join(" ").toLowerCase();
      row.hidden = !words.every((w) => text.includes(w));
      if (!row.hidden) shown += 1;
    });
    document.querySelectorAll("#judgements details.sector").forEach((box) => {
      const any = box.querySelector(".param:not([hidden])") !== null;
      box.hidden = words.length > 0 && !any;
      if (words.length) { if (!("was" in box.dataset)) box.dataset.was = box.open ? "1" : ""; box.open = any; }
      else if ("was" in box.dataset) { box.open = box.dataset.was === "1"; delete box.dataset.was; }
    });
    $("#judgement-matches").textContent = words.length ? `${shown} of ${state.info.judgements.length} match` : "";
  }

  function leverNote() {
    const sc = state.info.scenario_details.find((s) => s.name === state.scenario);
    const note = $("#lever-note");
    note.className = "hint lever-note";
    if (sc && sc.policy_from !== null) {
      const when = sc.policy_date ? fmtDate(sc.policy_date) : `time ${sc.policy_from}`;
      note.textContent = `A lever slider sets that lever's level from this scenario's policy date, ${when}, onward; before it the scenario's own path applies.`;
    } else {
      note.textContent = "This scenario has no policy date, so a lever slider sets that lever's level for the whole run.";
    }
  }

  function buildControls() {
    state.rows = {};
    const levers = $("#levers");
    levers.replaceChildren(...state.info.levers.map((p) => slider(p, "lever")));
    if (!state.info.levers.length) levers.append(el("p", {class: "hint", text: "This model has no levers."}));
    $("#judgements").replaceChildren(...judgementGroups());
    if (state.info.judgements.some((p) => p.name in state.params)) $("#judgements-box").open = true;
    filterJudgements();
    $("#judgement-count").textContent = `(${state.info.judgements.length})`;
    $("#judgement-note").textContent = `Untouched, each is sampled over its range across the ${state.info.limits.dashboard_runs} runs; moving a slider fixes it at that value in every run.`;
    leverNote();
  }

  function buildVariablePicker() {
    const box = $("#var-picker");
    box.replaceChildren();
    const chips = new Set([...state.info.key_variables, ...state.variables]);
    for (const name of chips) {
      const on = state.variables.includes(name);
      box.append(el("button", {type: "button", class: "chip", "aria-pressed": on ? "true" : "false", "data-variable": name,
        text: displayName(name), onclick: () => {
          state.variables = on ? state.variables.filter((v) => v !== name) : [...state.variables, name];
          if (!state.variables.length) state.variables = [name];
          buildVariablePicker(); schedule();
        }}));
    }
    const add = el("select", {"aria-label": "add a variable", id: "add-variable"}, el("option", {value: "", text: "+ add variable…"}));
    for (const v of state.info.variables) {
      if (["stock", "flow", "auxiliary"].includes(v.kind) && !chips.has(v.name)) add.append(el("option", {value: v.name, text: v.display}));
    }
    add.addEventListener("change", () => { if (add.value) { state.variables = [...state.variables, add.value]; buildVariablePicker(); schedule(); } });
    box.append(add);
  }

  function buildCompare() {
    const box = $("#compare-scenarios");
    box.replaceChildren();
    for (const name of state.info.scenarios) {
      const on = state.compare.includes(name);
      box.append(el("button", {type: "button", class: "chip", "aria-pressed": on ? "true" : "false", "data-scenario": name, text: name,
        onclick: () => {
          state.compare = on ? state.compare.filter((s) => s !== name) : [...state.compare, name];
          if (!state.compare.length) state.compare = [name];
          buildCompare(); schedule();
        }}));
    }
  }

  /* ---------- causal-loop diagram and evidence ---------- */
  // Readable views (each sector, the core, the whole graph; the dominant loops once the loop
  // analysis arrives); a loop clicked in the dominance chart is drawn with its neighbours, highlighted.
  async function loadDiagram(key, highlight) {
    const box = $("#diagram");
    const model = state.model;
    state.view = key || "all";
    state.highlight = highlight || null;
    markView();
    box.replaceChildren(el("p", {class: "hint", text: "drawing the diagram…"}));
    let svgText;
    try { svgText = await api(`/api/models/${model}/diagram.svg?view=${encodeURIComponent(state.view)}`, undefined, "diagram"); } catch (err) {
      if (err.name !== "AbortError") box.replaceChildren(el("p", {class: "error", text: err.message}));
      return;
    }
    if (state.model !== model) return;
    const doc = new DOMParser().parseFromString(svgText, "image/svg+xml");
    const svg = document.importNode(doc.documentElement, true);
    svg.querySelectorAll("script, foreignObject").forEach((n) => n.remove());
    const viewBox = (svg.getAttribute("viewBox") || "").split(/[\s,]+/).map(Number);
    svg.dataset.width = viewBox.length === 4 && viewBox[2] > 0 ? viewBox[2] * 4 / 3 : 800;
    box.replaceChildren(svg);
    state.fitted = false;
    fitDiagram();
    for (const edge of svg.querySelectorAll("g.edge")) {
      const title = edge.querySelector("title");
      const [source, target] = (title ? title.textContent : "").split("->");
      if (!source || !target) continue;
      edge.dataset.source = source.trim(); edge.dataset.target = target.trim();
      const path = edge.querySelector("path");
      if (path) { const hit = path.cloneNode(); hit.setAttribute("class", "hit"); path.parentNode.append(hit); }
      edge.querySelectorAll("a").forEach((a) => a.removeAttribute("xlink:title"));
      edge.addEventListener("click", () => showEvidence(edge));
    }
    if (state.highlight) highlightLoop(svg, state.highlight);
    const listed = (state.views || []).find((v) => v.key === state.view);
    $("#diagram-caption").textContent = listed ? listed.caption : state.view.startsWith("loop:") ?
      `${state.view.slice(5)} and the variables one link away; its links highlighted` : "";
  }

  function highlightLoop(svg, members) {
    const names = new Set(members), pairs = new Set(members.map((m, i) => `${m}->${members[(i + 1) % members.length]}`));
    for (const g of svg.querySelectorAll("g.node, g.edge")) {
      const title = g.querySelector("title"), text = title ? title.textContent.trim() : "";
      g.classList.toggle("hl", g.classList.contains("node") ? names.has(text) : pairs.has(text));
    }
    svg.classList.add("dimmed");
  }

  function markView() {
    document.querySelectorAll("#view-picker .view-button").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === state.view)));
  }

  async function loadViews() {
    const model = state.model;
    state.views = []; state.dominance = null; state.view = null;
    $("#view-picker").replaceChildren();
    $("#dominance-chart").replaceChildren();
    $("#dominance-note").textContent = "Loop dominance is computed when this tab opens.";
    const loops = $("#loops");
    loops.replaceChildren(...state.info.loops.slice(0, 200).map((l) => el("li", {}, el("b", {text: l.label + " "}), [...l.variables, l.variables[0]].map(displayName).join(" → "))));
    try { state.views = await api(`/api/models/${model}/views`); } catch (err) { state.views = [{key: "all", name: "whole graph", group: "overview", caption: ""}]; }
    if (state.model !== model) return;
    buildViewPicker();
    const first = state.views.find((v) => v.group === "sectors") || state.views.find((v) => v.key === "core") || state.views[0];
    loadDiagram(first ? first.key : "all");
    if (state.tab === "structure") loadDominance();
  }

  function buildViewPicker() {
    const views = [...state.views];
    if (state.dominance) views.unshift({key: state.dominance.dominant_view, name: "dominant loops", group: "loops"});
    const rows = [["loops", "Loops"], ["sectors", "Sectors"], ["overview", "Overview"]].map(([group, label]) => {
      const members = views.filter((v) => v.group === group);
      if (!members.length) return null;
      return el("div", {class: "view-row"}, el("span", {class: "view-label", text: label}),
        ...members.map((v) => el("button", {type: "button", class: "view-button", "data-view": v.key, title: v.caption || v.name,
                                           onclick: () => { state.viewChosen = true; loadDiagram(v.key); }}, v.name)));
    });
    $("#view-picker").replaceChildren(...rows.filter(Boolean));
    markView();
  }

  async function loadDominance() {
    const model = state.model, scenario = state.scenario;
    const key = `${model}|${scenario}`;
    if (state.dominanceKey === key) return;
    state.dominanceKey = key;
    const note = $("#dominance-note");
    note.textContent = `computing which loops dominate over ${state.info.limits.dashboard_runs} runs of ${scenario || "the model"} (as written)…`;
    let result;
    try { result = await api(`/api/models/${model}/loops${scenario ? `?scenario=${encodeURIComponent(scenario)}` : ""}`); } catch (err) {
      if (state.dominanceKey === key) { note.textContent = `Loop dominance not available: ${err.message}`; state.dominanceKey = null; }
      return;
    }
    if (state.dominanceKey !== key) return;
    state.dominance = result;
    note.textContent = `Scenario ${result.scenario || "as written"} (sliders not applied), ${result.runs} runs, ${result.scored} loops scored (${result.mode}). ` +
      `Top: the share of runs in which each loop has the largest relative score of its partition of ${result.partition_loops} loops, stacked; ` +
      "bottom: each loop's relative score, median and 10–90 % band (+ reinforcing, − balancing). Click a loop to draw it in the diagram.";
    const chart = $("#dominance-chart");
    const layout = Object.assign({}, result.figure.layout, {height: 460});
    await Plotly.newPlot(chart, result.figure.data, layout, {displaylogo: false, responsive: true});
    const members = new Map(result.loops.map((l) => [l.label, l.variables]));
    const pick = (id) => { if (members.has(id)) { state.viewChosen = true; loadDiagram(`loop:${id}`, members.get(id)); } };
    chart.on("plotly_click", (e) => { const p = e.points && e.points[0]; if (p && p.data) pick(p.data.legendgroup); });
    chart.on("plotly_legendclick", (e) => { const id = e.data[e.curveNumber].legendgroup; if (members.has(id)) { pick(id); return false; } return true; });
    buildViewPicker();
    if (!state.viewChosen) loadDiagram(result.dominant_view);
  }

  const READABLE = 0.6;  // below this scale a large diagram's labels cannot be read: scroll instead

  function fitDiagram(whole) {
    const box = $("#diagram"), svg = $("#diagram svg");
    if (!svg) return;
    state.fitted = box.clientWidth > 0;
    if (state.fitted) {
      const fit = Math.min(1, (box.clientWidth - 20) / Number(svg.dataset.width));
      state.zoom = whole ? fit : Math.max(fit, READABLE);
    }
    applyZoom();
  }

  function dragToPan(box) {
    let start = null;
    box.addEventListener("pointerdown", (e) => { start = {x: e.clientX, y: e.clientY, left: box.scrollLeft, top: box.scrollTop, moved: false}; });
    box.addEventListener("pointermove", (e) => {
      if (!start || !(e.buttons & 1)) return;
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) start.moved = true;
      if (start.moved) { box.scrollLeft = start.left - dx; box.scrollTop = start.top - dy; box.classList.add("panning"); }
    });
    window.addEventListener("pointerup", () => { setTimeout(() => box.classList.remove("panning"), 0); if (start && start.moved) box.dataset.dragged = "1"; start = null; });
    box.addEventListener("click", (e) => { if (box.dataset.dragged) { e.stopPropagation(); e.preventDefault(); delete box.dataset.dragged; } }, true);
  }

  function applyZoom() {
    const svg = $("#diagram svg");
    if (!svg) return;
    svg.style.width = `${Number(svg.dataset.width) * state.zoom}px`;
    svg.style.height = "auto";
  }

  async function showEvidence(edge) {
    if (state.selectedEdge) state.selectedEdge.classList.remove("selected");
    edge.classList.add("selected");
    state.selectedEdge = edge;
    const panel = $("#evidence");
    const {source, target} = edge.dataset;
    panel.replaceChildren(el("p", {class: "hint", text: "loading evidence…"}));
    let link;
    try { link = await api(`/api/models/${state.model}/links/${encodeURIComponent(source)}/${encodeURIComponent(target)}`); } catch (err) {
      panel.replaceChildren(el("p", {class: "error", text: err.message})); return;
    }
    const sign = el("span", {class: link.sign === "+" ? "sign-plus" : "sign-minus", text: ` (${link.sign})`});
    panel.replaceChildren(el("h4", {}, `${displayName(link.source)} → ${displayName(link.target)}`, sign));
    panel.dataset.link = `${link.source}->${link.target}`;
    if (!link.items.length) {
      panel.append(el("p", {class: "hint", text: link.declared ? "Declared without evidence." : "No declared evidence: the sign is derived from the equation's partial derivative."}));
      return;
    }
    let shown = false;
    for (const item of link.items) {
      const card = el("div", {class: "item"});
      if (item.kind === "assumption") {
        card.append(el("span", {class: "tag", text: "assumption"}), " ", item.reason);
      } else {
        card.append(el("blockquote", {class: "quote-text", text: `“${item.quote}”`}));
        const src = item.source;
        card.append(el("div", {class: "hint"}, src ? `${src.title}${src.publisher ? ", " + src.publisher : ""}${src.date ? " (" + src.date + ")" : ""}` : item.source));
        if (item.text === null) card.append(el("p", {class: "hint", text: "The source document is not on the server's sources path, so it cannot be shown."}));
        else if (item.span === null) card.append(el("p", {class: "error", text: "The quote was not found in the source text."}));
        else if (!shown) { card.append(sourceText(item)); shown = true; }
        else card.append(el("button", {type: "button", class: "secondary", text: "show in source",
          onclick: (e) => { panel.querySelectorAll(".source-text").forEach((n) => n.remove()); e.target.replaceWith(sourceText(item)); scrollMark(); }}));
      }
      panel.append(card);
    }
    scrollMark();
  }

  function sourceText(item) {
    const [a, b] = item.span;
    return el("div", {class: "source-text"}, item.text.slice(0, a), el("mark", {class: "quote", text: item.text.slice(a, b)}), item.text.slice(b));
  }

  function scrollMark() {
    const mark = $("#evidence mark.quote");
    if (!mark) return;
    const box = mark.closest(".source-text");
    box.scrollTop = Math.max(0, mark.offsetTop - box.offsetTop - box.clientHeight / 3);
  }

  /* ---------- the whole state in the URL, and its export as scenario overrides ---------- */
  const TABS = ["trajectories", "compare", "structure", "about"];

  // What a shared link asks for: ?model=&scenario=&tab=&var=…&compare=…&set.NAME=VALUE (read once, at load).
  function readUrl() {
    const q = new URLSearchParams(location.search);
    const set = {};
    for (const [key, value] of q) if (key.startsWith("set.")) set[key.slice(4)] = value;
    return {model: q.get("model"), scenario: q.get("scenario"), tab: q.get("tab"), variables: q.getAll("var"),
            compare: q.getAll("compare"), set};
  }

  // Replaces the address with the current state, so a reload or a shared link restores it.
  function writeUrl() {
    if (!state.info) return;
    const q = new URLSearchParams();
    q.set("model", state.model);
    if (state.scenario) q.set("scenario", state.scenario);
    if (state.tab !== "trajectories") q.set("tab", state.tab);
    for (const v of state.variables) q.append("var", v);
    for (const c of state.compare) q.append("compare", c);
    for (const [name, value] of Object.entries(state.params)) q.set("set." + name, String(value));
    const url = `${location.pathname}?${q}`;
    if (url !== location.pathname + location.search) history.replaceState(null, "", url + location.hash);
  }

  // A link's state applied to the model just loaded; what this model does not have is named, not silently dropped.
  function applyLinked(linked) {
    const ignored = [];
    if (linked && linked.model === state.model) {
      if (linked.scenario !== null) {
        if (state.info.scenarios.includes(linked.scenario)) state.scenario = linked.scenario; else ignored.push(`scenario ${linked.scenario}`);
      }
      const settable = new Map([...state.info.levers, ...state.info.judgements].map((p) => [p.name, p]));
      for (const [name, text] of Object.entries(linked.set)) {
        const value = Number(text);
        if (settable.has(name) && text.trim() !== "" && Number.isFinite(value)) state.params[name] = value;
        else ignored.push(`${name}=${text}`);
      }
      const known = new Set(state.info.variables.map((v) => v.name));
      const variables = linked.variables.filter((v) => known.has(v));
      if (variables.length) state.variables = variables;
      ignored.push(...linked.variables.filter((v) => !known.has(v)).map((v) => `variable ${v}`));
      const compare = linked.compare.filter((c) => state.info.scenarios.includes(c));
      if (compare.length) state.compare = compare;
    }
    const note = $("#link-note");
    note.hidden = !ignored.length;
    note.textContent = ignored.length ? `The link asked for what this model does not have (ignored): ${ignored.join(", ")}.` : "";
  }

  // The settings as a scenario overrides file: `policylab run MODEL --overrides FILE` reproduces this ensemble.
  function overridesYaml() {
    const q = (text) => JSON.stringify(text);  // a JSON string is a valid YAML double-quoted scalar
    const lines = ["# PolicyLab scenario overrides, exported from the dashboard.",
                   "# Run: policylab run MODEL_FILE --overrides THIS_FILE",
                   `model: ${q(state.info.name)}`];
    if (state.scenario) lines.push(`scenario: ${q(state.scenario)}`);
    lines.push(`runs: ${state.info.limits.dashboard_runs}`, "seed: 0");
    const entries = Object.entries(state.params);
    lines.push(entries.length ? "set:" : "set: {}");
    for (const [name, value] of entries) lines.push(`  ${q(name)}: ${String(value)}`);
    return lines.join("\n") + "\n";
  }

  function exportYaml() {
    const link = el("a", {href: URL.createObjectURL(new Blob([overridesYaml()], {type: "application/yaml"})),
                          download: `${state.model}-${state.scenario || "model"}-overrides.yaml`});
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  async function copyLink() {
    writeUrl();
    try { await navigator.clipboard.writeText(location.href); setStatus("idle", "link copied"); }
    catch (err) { setStatus("idle", "copy the link from the address bar"); }
  }

  /* ---------- model and scenario selection ---------- */
  async function selectModel(id, linked) {
    setStatus("busy", "loading model…");
    state.model = id;
    state.info = await api(`/api/models/${id}`);
    state.scenario = state.info.default_scenario || state.info.scenarios[0] || null;
    state.params = {};
    state.variables = state.info.key_variables.slice(0, 6);
    state.compare = [state.scenario, ...state.info.scenarios.filter((s) => s !== state.scenario).slice(0, 1)].filter(Boolean);
    applyLinked(linked);
    const sel = $("#scenario-select");
    sel.replaceChildren(...state.info.scenarios.map((s) => el("option", {value: s, text: s})));
    if (!state.info.scenarios.length) sel.append(el("option", {value: "", text: "(as written)"}));
    sel.value = state.scenario || "";
    $("#ensemble").textContent = `${state.info.limits.dashboard_runs}-run ensemble · ${state.info.time.calendar_start ? "daily calendar" : state.info.time.units}`;
    $("#charts").replaceChildren();
    buildControls(); buildVariablePicker(); buildCompare();
    $("#about").replaceChildren(el("p", {class: "hint", text: "loading the model card…"}));
    api(`/api/models/${id}/card`).then((card) => {
      const about = $("#about");
      about.replaceChildren(el("h3", {text: state.info.name}), el("p", {text: state.info.doc}));
      if (card.html) { const div = el("div"); div.innerHTML = card.html; about.append(div); }
      else about.append(el("p", {class: "hint", text: "This model folder has no README.md model card."}));
      loadValidation(id);
    }).catch(() => {});
    state.viewChosen = false;
    loadViews();
    await refresh();
  }

  // The model's validation (its `checks:` and units), as `policylab validate` prints it, below the card.
  function loadValidation(id) {
    const box = el("div", {id: "validation"}, el("h3", {text: "Validation"}),
                   el("p", {class: "hint", text: "running the model's checks…"}));
    $("#about").append(box);
    api(`/api/models/${id}/validation`).then((v) => {
      if (state.model !== id) return;
      const head = el("tr", {}, ...["check", "kind", "scenario", "holds in", "required", "verdict"].map((t) => el("th", {text: t})));
      const rows = v.checks.map((c) => el("tr", {title: [c.doc, c.detail].filter(Boolean).join(" — ")},
        el("td", {text: c.name}), el("td", {text: c.kind}), el("td", {text: c.scenario}), el("td", {text: c.share}),
        el("td", {text: c.required}), el("td", {text: c.verdict})));
      const failed = v.checks.filter((c) => c.verdict !== "pass").length;
      box.replaceChildren(el("h3", {text: "Validation"}),
        el("p", {class: "hint", text: `${v.checks.length - failed} passed, ${failed} failed; ${v.runs} runs per check, seed ${v.seed}. ` +
          "`policylab validate` also runs the extreme-condition, integration and holdout checks."}),
        el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
    }).catch((e) => box.replaceChildren(el("h3", {text: "Validation"}), el("p", {class: "hint", text: `not available: ${e.message || e}`})));
  }

  function showTab(name) {
    state.tab = name;
    document.querySelectorAll(".tabs button").forEach((b) => b.setAttribute("aria-selected", String(b.dataset.tab === name)));
    document.querySelectorAll(".tab").forEach((t) => { t.hidden = t.id !== `tab-${name}`; });
  }

  function selectTab(name) {
    showTab(name);
    writeUrl();
    if (name === "trajectories" || name === "compare") refresh();
    if (name === "structure" && !state.fitted) fitDiagram();
    if (name === "structure" && state.views) loadDominance();
    window.dispatchEvent(new Event("resize"));
  }

  async function main() {
    document.querySelectorAll(".tabs button").forEach((b) => b.addEventListener("click", () => selectTab(b.dataset.tab)));
    $("#scenario-select").addEventListener("change", (e) => {
      state.scenario = e.target.value || null;
      for (const p of state.info.levers) if (state.rows[p.name]) state.rows[p.name]();
      leverNote(); schedule();
      if (state.tab === "structure") loadDominance();
    });
    $("#model-select").addEventListener("change", (e) => selectModel(e.target.value));
    $("#export-yaml").addEventListener("click", exportYaml);
    $("#copy-link").addEventListener("click", copyLink);
    dragToPan($("#diagram"));
    $("#judgement-filter").addEventListener("input", filterJudgements);
    $("#reset-all").addEventListener("click", () => { state.params = {}; buildControls(); schedule(); });
    document.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
      const z = b.dataset.zoom;
      if (z === "fit") { fitDiagram(true); return; }
      state.zoom = z === "in" ? state.zoom * 1.25 : state.zoom / 1.25;
      applyZoom();
    }));
    try {
      state.models = await api("/api/models");
      $("#model-select").replaceChildren(...state.models.map((m) => el("option", {value: m.id, text: m.name})));
      const linked = readUrl();
      if (TABS.includes(linked.tab)) showTab(linked.tab);
      const chosen = state.models.find((m) => m.id === linked.model) || state.models[0];
      if (chosen) $("#model-select").value = chosen.id;
      if (chosen) await selectModel(chosen.id, linked);
      else setStatus("error", "this server serves no model");
    } catch (err) {
      setStatus("error", err.message);
    }
  }

  main();
})();
