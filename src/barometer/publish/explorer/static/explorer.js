// The barometer explorer's pages: written for this project, plain JavaScript, no framework.
//
// Reads its data from the JSON API of the same origin (served by `barometer serve`) or
// from the cube embedded in index.html (the static export of `barometer explorer`). Every
// figure printed is one the cube holds (`percent`, `moe`, `n`: rounded by the package's
// one rule); the page computes no statistic. Text from the data (wording, labels, names)
// only ever reaches the page as textContent or as Vega text marks, never as markup.
// Charts are Vega-Lite, drawn by Vega-Embed in its expression-interpreter mode
// (`ast: true`), so the page runs under a content-security policy with no 'unsafe-eval'.
(function () {
  "use strict";

  var page = JSON.parse(document.getElementById("barometer-page").textContent);
  var catalogue = null;
  var methodology = null;
  var cache = {};
  var view = null; // the Vega view on screen (for the PNG and SVG downloads)
  var state = null;
  var $ = function (id) { return document.getElementById(id); };

  // -- data ------------------------------------------------------------------------------

  function getJSON(url) {
    return fetch(url, { headers: { accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function staticRows(question, by) {
    var cols = page.rows.columns;
    var qi = cols.indexOf("question");
    var bi = cols.indexOf("breakdown");
    return page.rows.data.filter(function (r) {
      return r[qi] === question && r[bi] === (by || null);
    }).map(function (r) {
      var o = {};
      cols.forEach(function (c, i) { o[c] = r[i]; });
      return o;
    });
  }

  function partRows(q, by) {
    // A multiple-response question or grid is stored as one question per option or item
    // (`<question>__<code>`): its rows are its parts' rows, tagged with the part. An
    // option's figure is its part's "selected" row; a grid item keeps every level.
    return Promise.all(q.parts.map(function (p) {
      return estimates(p.question, by).then(function (rows) {
        return rows.filter(function (r) {
          return q.kind !== "multiple" || r.level === "selected";
        }).map(function (r) {
          var o = {};
          Object.keys(r).forEach(function (k) { o[k] = r[k]; });
          if (q.kind === "multiple") { o.level = p.code; } else { o.item = p.code; }
          return o;
        });
      });
    })).then(function (lists) { return [].concat.apply([], lists); });
  }

  function estimates(question, by) {
    var q = catalogue && question && catalogue.questions.filter(function (x) {
      return x.id === question;
    })[0];
    if (q && q.parts && q.parts.length) { return partRows(q, by); }
    var key = JSON.stringify([question, by || null]);
    if (!cache[key]) {
      if (page.mode === "static") {
        cache[key] = Promise.resolve(staticRows(question, by));
      } else {
        var url = "api/estimates?question=" + encodeURIComponent(question) +
          (by ? "&by=" + encodeURIComponent(by) : "");
        cache[key] = getJSON(url).then(function (body) { return body.rows; });
      }
    }
    return cache[key];
  }

  function load() {
    if (page.mode === "static") {
      return Promise.resolve([page.catalogue, page.methodology]);
    }
    return Promise.all([getJSON("api/questions"), getJSON("api/methodology")]);
  }

  // -- helpers ---------------------------------------------------------------------------

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function question(id) {
    return catalogue.questions.filter(function (q) { return q.id === id; })[0] || null;
  }
  function scope(id) {
    return catalogue.scopes.filter(function (s) { return s.id === id; })[0] || { id: id, name: id };
  }
  function breakdown(id) {
    return catalogue.breakdowns.filter(function (b) { return b.id === id; })[0] || null;
  }
  function labelOf(levels, code) {
    var found = levels.filter(function (l) { return l.code === code; })[0];
    return found ? found.label : code;
  }
  function status(text) { $("status").textContent = text; }

  // -- state and permalink ---------------------------------------------------------------

  function readHash() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var list = function (k) { return params.get(k) ? params.get(k).split(",") : null; };
    return {
      q: params.get("q"), scopes: list("c"), waves: list("w"), by: params.get("by") || "",
      chart: params.get("chart"), display: params.get("display")
    };
  }

  function writeHash() {
    var params = new URLSearchParams();
    params.set("q", state.q);
    params.set("c", state.scopes.join(","));
    params.set("w", state.waves.join(","));
    if (state.by) { params.set("by", state.by); }
    params.set("chart", state.chart);
    params.set("display", state.display);
    var hash = "#" + params.toString();
    if (location.hash !== hash) { history.replaceState(null, "", hash); }
    $("permalink").value = location.href;
  }

  function settle(wanted) {
    // A state the data can show: unknown names from a hand-edited link are dropped.
    var q = question(wanted.q) || catalogue.questions[0];
    if (q.part_of) { q = question(q.part_of) || q; }
    var waves = q.waves.filter(function (w) { return !wanted.waves || wanted.waves.indexOf(w) >= 0; });
    var asked = {};
    q.waves.forEach(function (w) { q.asked[w].forEach(function (c) { asked[c] = true; }); });
    var where = catalogue.scopes.filter(function (s) {
      return s.kind === "region" ? s.members.some(function (m) { return asked[m]; }) : asked[s.id];
    }).map(function (s) { return s.id; });
    var scopes = where.filter(function (s) { return !wanted.scopes || wanted.scopes.indexOf(s) >= 0; });
    var chart = wanted.chart === "trend" ? "trend" : "bars";
    if (!wanted.waves || !waves.length) {
      waves = chart === "trend" ? q.waves.slice() : q.waves.slice(-1);
    }
    return {
      q: q.id, where: where, scopes: scopes.length ? scopes : where, waves: waves,
      by: q.breakdowns.indexOf(wanted.by) >= 0 ? wanted.by : "",
      chart: chart, display: wanted.display === "table" ? "table" : "chart"
    };
  }

  // -- controls --------------------------------------------------------------------------

  function fillQuestions() {
    var select = $("question");
    var words = $("search").value.trim().toLowerCase();
    clear(select);
    catalogue.questions.forEach(function (q) {
      // A set's options and items are chosen through the set, not one by one.
      if (q.part_of) { return; }
      var text = q.wording || q.id;
      if (words && (text + " " + q.id).toLowerCase().indexOf(words) < 0) { return; }
      var option = el("option", text, { value: q.id });
      option.selected = state && q.id === state.q;
      select.appendChild(option);
    });
  }

  function checkboxes(box, name, items, chosen) {
    // Rebuilt only when the choices change, so focus stays where the keyboard left it.
    var ids = JSON.stringify(items.map(function (item) { return item.id; }));
    if (box.getAttribute("data-items") === ids) {
      Array.prototype.forEach.call(box.querySelectorAll("input"), function (input) {
        input.checked = chosen.indexOf(input.value) >= 0;
      });
      return;
    }
    box.setAttribute("data-items", ids);
    clear(box);
    items.forEach(function (item, i) {
      var input = el("input", null, { type: "checkbox", id: name + "-" + i, value: item.id });
      input.checked = chosen.indexOf(item.id) >= 0;
      input.addEventListener("change", onChange);
      var label = el("label", null, { "for": input.id });
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + item.name));
      box.appendChild(label);
    });
  }

  function checked(box) {
    return Array.prototype.slice.call(box.querySelectorAll("input:checked"))
      .map(function (i) { return i.value; });
  }

  function fillControls() {
    var q = question(state.q);
    var select = $("question");
    if (select.getAttribute("data-q") !== q.id) {
      select.setAttribute("data-q", q.id);
      fillQuestions();
    }
    checkboxes($("scopes"), "scope",
      state.where.map(function (id) { return { id: id, name: scope(id).name }; }), state.scopes);
    checkboxes($("waves"), "wave", q.waves.map(function (w) { return { id: w, name: w }; }),
      state.waves);
    var by = $("by");
    if (by.getAttribute("data-q") !== q.id) {
      by.setAttribute("data-q", q.id);
      clear(by);
      by.appendChild(el("option", "No breakdown", { value: "" }));
      q.breakdowns.forEach(function (b) {
        by.appendChild(el("option", (breakdown(b) || { label: b }).label, { value: b }));
      });
    }
    by.value = state.by;
    $("chart-" + state.chart).checked = true;
    $("display-" + state.display).checked = true;
  }

  function onChange(event) {
    var target = event && event.target;
    var wanted = {
      q: state.q, scopes: checked($("scopes")), waves: checked($("waves")), by: $("by").value,
      chart: document.querySelector("input[name=chart]:checked").value,
      display: document.querySelector("input[name=display]:checked").value
    };
    if (target && target.id === "question") {
      wanted = { q: $("question").value, chart: wanted.chart, display: wanted.display };
    }
    if (target && target.name === "chart" && wanted.chart === "trend" && wanted.waves.length < 2) {
      wanted.waves = null;
    }
    show(settle(wanted));
  }

  // -- the view --------------------------------------------------------------------------

  function marksText(row) {
    var out = [];
    if (row.change_mark === "up") { out.push("↑"); }
    if (row.change_mark === "down") { out.push("↓"); }
    if (row.region_mark === "above") { out.push("+" + row.mark_region); }
    if (row.region_mark === "below") { out.push("−" + row.mark_region); }
    return out.join(" ");
  }

  function cellsOf(rows, q) {
    // The rows of the view in reading order: scope, wave, breakdown level, answer level.
    var b = breakdown(state.by);
    var rank = function (list) {
      var r = {};
      list.forEach(function (v, i) { r[v] = i; });
      return r;
    };
    var scopeRank = rank(catalogue.scopes.map(function (s) { return s.id; }));
    var waveRank = rank(catalogue.waves);
    var levelRank = rank(q.levels.map(function (l) { return l.code; }));
    var blevelRank = rank(b ? b.levels.map(function (l) { return l.code; }) : []);
    var parts = q.kind === "grid" ? q.parts : [];
    var itemRank = rank(parts.map(function (p) { return p.code; }));
    var key = function (r) {
      return [itemRank[r.item] || 0, scopeRank[r.scope], waveRank[r.wave],
        blevelRank[r.breakdown_level] || 0, levelRank[r.level] || 0];
    };
    return rows.filter(function (r) {
      return state.scopes.indexOf(r.scope) >= 0 && state.waves.indexOf(r.wave) >= 0;
    }).sort(function (x, y) {
      var a = key(x), c = key(y);
      for (var i = 0; i < a.length; i++) { if (a[i] !== c[i]) { return a[i] - c[i]; } }
      return 0;
    }).map(function (r) {
      return {
        row: r, where: scope(r.scope).name, wave: r.wave,
        group: b ? labelOf(b.levels, r.breakdown_level) : null,
        item: parts.length ? labelOf(parts, r.item) : null,
        answer: q.kind === "numeric" ? "Mean" : labelOf(q.levels, r.level)
      };
    });
  }

  function shownKind() {
    var q = state && question(state.q);
    return q ? q.kind : "question";
  }

  function tableColumns() {
    var kind = shownKind();
    var cols = kind === "grid" ? ["Item", "Country or region", "Wave"] : ["Country or region", "Wave"];
    if (state.by) { cols.push((breakdown(state.by) || { label: state.by }).label); }
    if (kind === "numeric") {
      // A mean in the question's own units, not a share.
      return cols.concat(["Mean", "Margin of error (±)", "Unweighted base", "Marks"]);
    }
    return cols.concat([kind === "multiple" ? "Option" : "Answer", "Share (%)",
      "Margin of error (± points)", "Unweighted base", "Marks"]);
  }

  function tableCells(c) {
    var r = c.row;
    var flag = r.flagged && !r.suppressed ? "*" : "";
    var cells = c.item !== null ? [c.item, c.where, c.wave] : [c.where, c.wave];
    if (state.by) { cells.push(c.group); }
    if (shownKind() !== "numeric") { cells.push(c.answer); }
    return cells.concat([r.suppressed ? "suppressed" : r.percent + flag,
      r.suppressed ? "" : String(r.moe).replace(/^±/, ""), String(r.n), marksText(r)]);
  }

  function renderTable(cells, q) {
    var table = $("table");
    $("caption").textContent = q.wording;
    var head = table.tHead, body = table.tBodies[0];
    clear(head); clear(body);
    var tr = el("tr");
    tableColumns().forEach(function (c) { tr.appendChild(el("th", c, { scope: "col" })); });
    head.appendChild(tr);
    cells.forEach(function (c) {
      var row = el("tr");
      if (c.row.suppressed) { row.className = "suppressed"; }
      tableCells(c).forEach(function (text, i) {
        var td = el(i === 0 ? "th" : "td", text, i === 0 ? { scope: "row" } : {});
        row.appendChild(td);
      });
      body.appendChild(row);
    });
  }

  function rowLabel(c, withWave) {
    var parts = c.item !== null ? [c.item, c.where] : [c.where];
    if (c.group !== null) { parts.push(c.group); }
    if (withWave) { parts.push(c.wave); }
    return parts.join(" · ");
  }

  function chartData(cells, withWave) {
    // A mean prints in its own units; a share with "%" and its margin in points.
    var pct = shownKind() === "numeric" ? "" : "%";
    var pts = shownKind() === "numeric" ? "" : " points";
    return cells.map(function (c) {
      var r = c.row;
      return {
        row: rowLabel(c, withWave), wave: c.wave, answer: c.answer, share: r.estimate,
        lo: r.ci_low, hi: r.ci_high, percent: r.suppressed ? "suppressed" : r.percent + pct,
        moe: r.suppressed ? "" : r.moe + pts, n: r.n, marks: marksText(r) || "none",
        suppressed: r.suppressed, order: q0LevelIndex(r.level),
        label: r.suppressed ? "" : r.percent + (marksText(r) ? " " + marksText(r) : ""),
        dark: q0Dark(r.level),
        // What a screen reader says of the mark (and what the tests read back).
        description: [rowLabel(c, withWave), c.wave, c.answer].join(" | ") + ": " +
          (r.suppressed ? "suppressed" : r.percent + pct + " " + r.moe + pts) + ", base " + r.n
      };
    });
  }

  var q0LevelIndex = function () { return 0; };
  var q0Dark = function () { return false; };

  var TOOLTIP = [
    { field: "row", title: "Where" }, { field: "answer", title: "Answer" },
    { field: "percent", title: "Share" }, { field: "moe", title: "Margin of error" },
    { field: "n", title: "Unweighted base" }, { field: "marks", title: "Marks" }
  ];

  function colours(q) {
    var domain = q.levels.map(function (l) { return l.label; });
    // Options of a multiple-response question have no scale order: categorical colours.
    return q.colors.length ? { domain: domain, range: q.colors } : { domain: domain, scheme: "tableau10" };
  }

  function barsSpec(cells, q) {
    var withWave = state.waves.length > 1;
    var data = chartData(cells, withWave);
    var rows = [];
    data.forEach(function (d) { if (rows.indexOf(d.row) < 0) { rows.push(d.row); } });
    var shown = data.filter(function (d) { return !d.suppressed; });
    var suppressed = suppressedLabels(data);
    var y = { field: "row", type: "nominal", sort: rows, title: null,
      axis: { labelLimit: 220 } };
    return {
      // A fixed width from the page's (a "container" width drops Vega's fit-y with a
      // warning on a stepped height): the labels (at most 220 px) take the rest.
      width: Math.max(160, Math.min(900, $("chart").clientWidth - 240)), height: { step: 26 },
      layer: [
        {
          data: { values: shown },
          mark: { type: "bar", tooltip: true },
          encoding: {
            y: y,
            x: { field: "share", type: "quantitative", stack: "zero", title: "Share",
              axis: { format: ".0%" }, scale: { domain: [0, 1] } },
            color: { field: "answer", type: "nominal", title: "Answer", scale: colours(q),
              sort: colours(q).domain, legend: { orient: "bottom", columns: 1, labelLimit: 480 } },
            order: { field: "order", type: "quantitative" },
            tooltip: TOOLTIP, description: { field: "description" }
          }
        },
        {
          // The share (and its marks) printed on the segment, as the report labels them.
          data: { values: shown },
          transform: [
            { stack: "share", groupby: ["row"], sort: [{ field: "order" }], as: ["x0", "x1"] },
            { calculate: "(datum.x0 + datum.x1) / 2", as: "xm" },
            { filter: "datum.share >= " + page.chart.min_labelled_share }
          ],
          mark: { type: "text", fontSize: 11, fontWeight: "bold", aria: false, tooltip: true },
          encoding: {
            // The label carries the bar's tooltip: the pointer over it is over the bar.
            y: y, x: { field: "xm", type: "quantitative" }, text: { field: "label" },
            tooltip: TOOLTIP,
            color: { condition: { test: "datum.dark", value: "white" }, value: "#1a1a1a" }
          }
        },
        {
          data: { values: suppressed },
          mark: { type: "text", align: "left", dx: 4, color: "#555555", aria: false },
          encoding: { y: y, x: { datum: 0, type: "quantitative" }, text: { field: "text" } }
        }
      ],
      config: { font: "system-ui, sans-serif", view: { stroke: null } }
    };
  }

  function trendSpec(cells, q) {
    var data = chartData(cells, false).filter(function (d) { return !d.suppressed; });
    var rows = [];
    data.forEach(function (d) { if (rows.indexOf(d.row) < 0) { rows.push(d.row); } });
    // Panel titles above each panel, so a phone's width goes to the lines.
    var width = Math.max(200, Math.min(640, $("chart").clientWidth - 90));
    var x = { field: "wave", type: "ordinal", sort: state.waves, title: "Wave",
      axis: { labelAngle: 0 } };
    var color = { field: "answer", type: "nominal", title: "Answer", scale: colours(q),
      sort: colours(q).domain, legend: { orient: "bottom", columns: 1, labelLimit: 480 } };
    return {
      data: { values: data },
      facet: { row: { field: "row", type: "nominal", sort: rows, title: null,
        header: { labelAngle: 0, labelOrient: "top", labelAnchor: "start", labelLimit: 400,
          labelFontWeight: "bold", labelFontSize: 12 } } },
      spec: {
        width: width, height: 140,
        layer: [
          { mark: { type: "area", opacity: 0.18 },
            encoding: { x: x, y: { field: "lo", type: "quantitative", title: "Share",
              axis: { format: ".0%" }, scale: { domain: [0, 1] } }, y2: { field: "hi" },
              color: color } },
          { mark: { type: "line", point: true, tooltip: true },
            encoding: { x: x, y: { field: "share", type: "quantitative" }, color: color,
              tooltip: TOOLTIP, description: { field: "description" } } }
        ]
      },
      resolve: { scale: { x: "shared" } },
      config: { font: "system-ui, sans-serif" }
    };
  }

  function tooltip(handler, event, item, value) {
    // Vega's tooltip hook: the values as text in the page's own box (no markup).
    var box = $("tooltip");
    if (value === null || value === undefined || !item) { box.hidden = true; return; }
    clear(box);
    Object.keys(value).forEach(function (k) {
      var line = el("div");
      line.appendChild(el("strong", k + ": "));
      line.appendChild(document.createTextNode(String(value[k])));
      box.appendChild(line);
    });
    box.hidden = false;
    box.style.left = Math.min(event.pageX + 12, window.innerWidth - box.offsetWidth - 8) + "px";
    box.style.top = (event.pageY + 12) + "px";
  }

  function renderChart(spec) {
    var target = $("chart");
    if (view) { view.finalize(); view = null; }
    clear(target);
    if (!window.vegaEmbed) {
      status("The chart library did not load; the table shows the figures.");
      return Promise.resolve();
    }
    return window.vegaEmbed(target, spec, {
      ast: true, renderer: "svg", actions: false, defaultStyle: false, tooltip: tooltip
    }).then(function (result) {
      view = result.view;
      target.setAttribute("data-rendered", String(Date.now()));
    }).catch(function (err) {
      status("The chart could not be drawn (" + err.message + "); the table shows the figures.");
    });
  }

  function renderLegend(q) {
    var box = $("legend");
    clear(box);
    var rules = (methodology && methodology.rules) || {};
    var list = el("ul");
    [
      ["↑ / ↓", "significantly higher / lower than in the previous wave"],
      ["+EU / −EU", "significantly above / below the region named (the country's own region)"],
      ["*", "unweighted base below " + rules.flag_below + ": read with caution"],
      ["suppressed", "unweighted base below " + rules.suppress_below +
        ", or withheld so that a suppressed figure cannot be worked out from the others"]
    ].forEach(function (pair) {
      var li = el("li");
      li.appendChild(el("strong", pair[0]));
      li.appendChild(document.createTextNode(" " + pair[1]));
      list.appendChild(li);
    });
    box.appendChild(el("h3", "Reading the figures"));
    box.appendChild(list);
  }

  function renderFacts(q) {
    var dl = $("question-facts");
    clear(dl);
    var add = function (term, text) { dl.appendChild(el("dt", term)); dl.appendChild(el("dd", text)); };
    add("Question", q.wording || q.id);
    add("Identifier", q.id);
    if (q.kind === "numeric") {
      add("Answers", "a number: the figures are weighted means with their margins of error");
    } else {
      add(q.kind === "multiple" ? "Options (more than one may be chosen)" :
        "Answers, in the questionnaire's order", q.levels.map(function (l) { return l.label; }).join("; "));
    }
    if (q.kind === "grid") {
      add("Items", q.parts.map(function (p) { return p.label; }).join("; "));
    }
    q.waves.forEach(function (w) {
      add("Asked in " + w, q.asked[w].map(function (c) { return scope(c).name; }).join(", "));
    });
    add("Breakdowns", q.breakdowns.map(function (b) {
      return (breakdown(b) || { label: b }).label;
    }).join(", ") || "none");
  }

  function renderMethodology() {
    var body = $("methodology-body");
    clear(body);
    if (!methodology) { return; }
    [["How margins are computed", methodology.margins], ["Suppression", methodology.suppression],
      ["Significance marks", methodology.marks]].forEach(function (pair) {
      body.appendChild(el("h3", pair[0]));
      body.appendChild(el("p", pair[1]));
    });
    body.appendChild(el("h3", "Fieldwork"));
    var list = el("ul");
    (methodology.waves || []).forEach(function (w) {
      list.appendChild(el("li", w.id + ": " + (w.start || "?") + " to " + (w.end || "?")));
    });
    body.appendChild(list);
    body.appendChild(el("p", "Weights: " + methodology.weighting.weights));
    (methodology.notes || []).forEach(function (n) { body.appendChild(el("p", n)); });
  }

  function optionsSpec(cells, q) {
    // Multiple response: each option is its own share of its own base (they need not sum
    // to 100%), so a bar per option with its interval, the countries (and waves, groups)
    // side by side in categorical colours; not stacked.
    var withWave = state.waves.length > 1;
    var data = chartData(cells, withWave).filter(function (d) { return !d.suppressed; });
    var rows = [];
    data.forEach(function (d) { if (rows.indexOf(d.row) < 0) { rows.push(d.row); } });
    // Ranked: the options in the order of their shares in the first row shown (the
    // first country and wave), largest first; an option it lacks keeps its place after.
    var first = {};
    data.forEach(function (d) { if (d.row === rows[0]) { first[d.answer] = d.share; } });
    var ranked = q.levels.map(function (l) { return l.label; }).map(function (label, i) {
      return { label: label, share: label in first ? first[label] : -1, i: i };
    }).sort(function (a, b) { return b.share - a.share || a.i - b.i; })
      .map(function (o) { return o.label; });
    var y = { field: "answer", type: "nominal", sort: ranked, title: null,
      axis: { labelLimit: 220 } };
    var offset = { field: "row", type: "nominal", sort: rows };
    var x = { field: "share", type: "quantitative", title: "Share", axis: { format: ".0%" },
      scale: { domain: [0, 1] } };
    return {
      data: { values: data },
      width: Math.max(160, Math.min(900, $("chart").clientWidth - 240)),
      height: { step: Math.max(14, 8 * rows.length) },
      encoding: { y: y, yOffset: offset },
      layer: [
        { mark: { type: "bar", tooltip: true },
          encoding: { x: x, color: { field: "row", type: "nominal", sort: rows, title: null,
            legend: { orient: "bottom", columns: 1, labelLimit: 480 } },
            tooltip: TOOLTIP, description: { field: "description" } } },
        { mark: { type: "rule", color: "#1a1a1a", aria: false },
          encoding: { x: { field: "lo", type: "quantitative" }, x2: { field: "hi" } } }
      ],
      config: { font: "system-ui, sans-serif", view: { stroke: null } }
    };
  }

  function suppressedLabels(data) {
    var out = [];
    data.forEach(function (d) {
      if (d.suppressed && !out.some(function (s) { return s.row === d.row; })) {
        out.push({ row: d.row, text: "suppressed (base " + d.n + ")" });
      }
    });
    return out;
  }

  function meanSpec(cells) {
    // A numeric question: each country's (region's, group's) mean as a dot with its
    // interval as a whisker, on a scale fitted to the means (not from zero).
    var data = chartData(cells, state.waves.length > 1);
    var rows = [];
    data.forEach(function (d) { if (rows.indexOf(d.row) < 0) { rows.push(d.row); } });
    var shown = data.filter(function (d) { return !d.suppressed; });
    var y = { field: "row", type: "nominal", sort: rows, title: null, axis: { labelLimit: 220 } };
    var scale = { zero: false, nice: true };
    return {
      width: Math.max(160, Math.min(900, $("chart").clientWidth - 240)), height: { step: 26 },
      layer: [
        { data: { values: shown }, mark: { type: "rule", color: "#1f4e8c", strokeWidth: 2, aria: false },
          encoding: { y: y, x: { field: "lo", type: "quantitative", title: "Mean", scale: scale },
            x2: { field: "hi" } } },
        { data: { values: shown }, mark: { type: "point", filled: true, size: 90, color: "#1f4e8c",
          opacity: 1, tooltip: true },
          encoding: { y: y, x: { field: "share", type: "quantitative" }, tooltip: MEAN_TOOLTIP,
            description: { field: "description" } } },
        { data: { values: suppressedLabels(data) },
          mark: { type: "text", align: "left", dx: 4, color: "#555555", aria: false },
          encoding: { y: y, x: { value: 0 }, text: { field: "text" } } }
      ],
      config: { font: "system-ui, sans-serif", view: { stroke: null } }
    };
  }

  function meanTrendSpec(cells) {
    // The mean across waves, one line per country (region, group) with its interval band.
    var data = chartData(cells, false).filter(function (d) { return !d.suppressed; });
    var rows = [];
    data.forEach(function (d) { if (rows.indexOf(d.row) < 0) { rows.push(d.row); } });
    var x = { field: "wave", type: "ordinal", sort: state.waves, title: "Wave",
      axis: { labelAngle: 0 } };
    var color = { field: "row", type: "nominal", sort: rows, title: null,
      legend: { orient: "bottom", columns: 1, labelLimit: 480 } };
    return {
      data: { values: data },
      width: Math.max(200, Math.min(640, $("chart").clientWidth - 90)), height: 260,
      layer: [
        { mark: { type: "area", opacity: 0.18 },
          encoding: { x: x, y: { field: "lo", type: "quantitative", title: "Mean",
            scale: { zero: false } }, y2: { field: "hi" }, color: color } },
        { mark: { type: "line", point: true, tooltip: true },
          encoding: { x: x, y: { field: "share", type: "quantitative" }, color: color,
            tooltip: MEAN_TOOLTIP, description: { field: "description" } } }
      ],
      config: { font: "system-ui, sans-serif" }
    };
  }

  var MEAN_TOOLTIP = [
    { field: "row", title: "Where" }, { field: "wave", title: "Wave" },
    { field: "percent", title: "Mean" }, { field: "moe", title: "Margin of error" },
    { field: "n", title: "Unweighted base" }, { field: "marks", title: "Marks" }
  ];

  var VIEWS = {
    // A question's kind selects its view; a kind with none is shown as a table.
    question: { bars: barsSpec, trend: trendSpec },
    weighting: { bars: barsSpec, trend: trendSpec },
    numeric: { bars: meanSpec, trend: meanTrendSpec },
    multiple: { bars: optionsSpec, trend: trendSpec },
    // A grid: one stacked bar per item (and country), in the grid's level colours.
    grid: { bars: barsSpec, trend: trendSpec }
  };

  var current = []; // the cells on screen, for the CSV download

  function show(next) {
    state = next;
    writeHash();
    fillControls();
    var q = question(state.q);
    $("wording").textContent = q.wording || q.id;
    renderFacts(q);
    renderLegend(q);
    var kinds = VIEWS[q.kind];
    $("chart").hidden = state.display !== "chart";
    $("table-wrap").hidden = state.display !== "table";
    status("Loading " + q.id + "…");
    return estimates(state.q, state.by).then(function (rows) {
      if (state.q !== q.id) { return null; }
      var levelIndex = {};
      q.levels.forEach(function (l, i) { levelIndex[l.code] = i; });
      q0LevelIndex = function (code) { return levelIndex[code]; };
      q0Dark = function (code) { return Boolean(q.dark[levelIndex[code]]); };
      current = cellsOf(rows, q);
      renderTable(current, q);
      var note = "";
      if (state.chart === "trend" && state.waves.length < 2) {
        note = "A trend needs two waves or more: choose them under Waves.";
      }
      $("note").textContent = note || q.note || "";
      if (!kinds) {
        $("note").textContent = "Questions of kind " + q.kind + " are shown as a table.";
        if (view) { view.finalize(); view = null; }
        clear($("chart"));
        $("chart").hidden = true;
        $("table-wrap").hidden = false;
        return null;
      }
      return renderChart(kinds[state.chart](current, q));
    }).then(function () {
      status(catalogue.poll + ": " + current.length + " figures shown.");
      document.documentElement.setAttribute("data-ready", JSON.stringify(state));
    }).catch(function (err) {
      status("Could not load the figures: " + err.message);
    });
  }

  // -- downloads -------------------------------------------------------------------------

  function csvCell(text) {
    var rule = page.csv;
    var value = String(text);
    if (value && rule.formula_start.indexOf(value[0]) >= 0 &&
        !new RegExp(rule.plain_number).test(value)) {
      value = "'" + value;
    }
    return /[",\r\n]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
  }

  function csvText() {
    var lines = [tableColumns()].concat(current.map(tableCells));
    return lines.map(function (cells) { return cells.map(csvCell).join(","); }).join("\r\n") + "\r\n";
  }

  function fileName(ext) {
    return [state.q, state.by || "all", state.waves.join("_")].join("-")
      .replace(/[^A-Za-z0-9_.-]+/g, "_") + "." + ext;
  }

  function save(url, name) {
    var a = el("a", null, { href: url, download: name });
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
  }

  function downloadCsv() {
    var blob = new Blob(["\ufeff" + csvText()], { type: "text/csv;charset=utf-8" });
    var url = URL.createObjectURL(blob);
    save(url, fileName("csv"));
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }

  function downloadImage(kind) {
    if (!view) { status("No chart to download: switch to the chart."); return; }
    view.toImageURL(kind, kind === "png" ? 2 : 1).then(function (url) {
      save(url, fileName(kind));
    }).catch(function (err) { status("Could not make the image: " + err.message); });
  }

  function copyLink() {
    var input = $("permalink");
    input.select();
    var done = function () { status("Link copied."); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        status("Select the link and copy it.");
      });
    } else {
      status("Select the link and copy it.");
    }
  }

  // -- start -----------------------------------------------------------------------------

  function start() {
    load().then(function (both) {
      catalogue = both[0];
      methodology = both[1];
      $("poll-name").textContent = catalogue.poll;
      document.title = catalogue.poll + " — explorer";
      renderMethodology();
      if (!catalogue.questions.length) { status("This poll has no questions to show."); return; }
      $("search").addEventListener("input", fillQuestions);
      $("search").addEventListener("keydown", function (e) {
        var first = $("question").options[0];
        if (e.key === "Enter" && first) {
          e.preventDefault();
          show(settle({ q: first.value, chart: state.chart, display: state.display }));
        }
      });
      $("question").addEventListener("change", onChange);
      $("by").addEventListener("change", onChange);
      Array.prototype.forEach.call(document.querySelectorAll("input[type=radio]"), function (r) {
        r.addEventListener("change", onChange);
      });
      $("controls").addEventListener("submit", function (e) { e.preventDefault(); });
      $("download-csv").addEventListener("click", downloadCsv);
      $("download-png").addEventListener("click", function () { downloadImage("png"); });
      $("download-svg").addEventListener("click", function () { downloadImage("svg"); });
      $("copy-link").addEventListener("click", copyLink);
      $("chart").addEventListener("mouseleave", function () { $("tooltip").hidden = true; });
      window.addEventListener("hashchange", function () { show(settle(readHash())); });
      var drawnAt = $("chart").clientWidth, timer = null;
      window.addEventListener("resize", function () {
        // Charts take the page's width when drawn: redraw when it changes (a phone turned).
        clearTimeout(timer);
        timer = setTimeout(function () {
          if (Math.abs($("chart").clientWidth - drawnAt) > 40 && state) {
            drawnAt = $("chart").clientWidth;
            show(state);
          }
        }, 250);
      });
      show(settle(readHash()));
    }).catch(function (err) {
      status("Could not load the poll: " + err.message);
    });
  }

  window.barometerExplorer = { csv: csvText, state: function () { return state; } };
  start();
})();
