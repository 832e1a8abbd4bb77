// bwmon's page: the graphs of rates in and out (uPlot), of the busiest apps
// or of the focused one, over 15 minutes (ticks from the WebSocket, the
// start from GET /api/v1/histories) or 24 hours (minute averages and
// peaks), and their legend, which gives the values under the cursor.
(function () {
  'use strict';

  var B = window.bwmon, state = B.state, $ = B.$, el = B.el, setText = B.setText, OTHER = B.OTHER;
  var G = B.graph = {};

  var WINDOW_S = 15 * 60; // the live graph's span
  var TOP = 6;            // apps drawn
  var COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

  state.series = new Map();  // app -> {t: [], dt: [], in: [], out: []}, the last 15 minutes
  state.colors = new Map();  // app -> colour, stable while drawn
  state.range = '15m';
  state.charts = { in: null, out: null, key: '', apps: [], peaks: false, dataIn: null, dataOut: null };
  state.day = null;          // 24-hour view: [{app, points}]

  G.color = function (app) { return state.colors.get(app); };

  // --- the last 15 minutes ---

  // onSnapshot appends a tick's rates: of every app that moved bytes, and
  // of the focused app even when idle.
  G.onSnapshot = function (snap) {
    var t = Date.parse(snap.time) / 1000;
    var dt = snap.interval_s;
    snap.apps.forEach(function (a) {
      var s = state.series.get(a.app);
      if (!s) {
        if (!(a.rate_in > 0 || a.rate_out > 0) && a.app !== state.focus) return;
        s = { t: [], dt: [], in: [], out: [] };
        state.series.set(a.app, s);
      }
      if (s.t.length && s.t[s.t.length - 1] >= t) return; // already from history
      s.t.push(t); s.dt.push(dt); s.in.push(a.rate_in); s.out.push(a.rate_out);
    });
    trim(t);
    if (state.range === '15m') renderLive();
    else updateLegend(null);
  };

  // trim drops points older than the window, and apps with none left or
  // idle throughout (but the focused one).
  function trim(now) {
    state.series.forEach(function (s, app) {
      var i = 0;
      while (i < s.t.length && s.t[i] <= now - WINDOW_S) i++;
      if (i > 0) { s.t.splice(0, i); s.dt.splice(0, i); s.in.splice(0, i); s.out.splice(0, i); }
      if (app === state.focus) return;
      if (!s.in.some(function (v, j) { return v > 0 || s.out[j] > 0; })) state.series.delete(app);
    });
  }

  // histories asks for several apps' histories in one request (at most 16,
  // the agent's bound) and resolves to [{app, points}].
  function histories(apps, since) {
    if (!apps.length) return Promise.resolve([]);
    return B.api('/api/v1/histories?' + B.query({ since: since, app: apps.slice(0, 16) })).then(function (h) {
      return h ? h.apps : [];
    });
  }

  // merge puts an app's 15-minute history before the ticks the page got
  // since.
  function merge(app, points) {
    if (!points.length) return;
    var s = { t: [], dt: [], in: [], out: [] };
    points.forEach(function (p) { s.t.push(p.t); s.dt.push(p.duration_s); s.in.push(p.in); s.out.push(p.out); });
    var old = state.series.get(app);
    if (old) {
      var last = s.t[s.t.length - 1];
      old.t.forEach(function (t, i) {
        if (t > last) { s.t.push(t); s.dt.push(old.dt[i]); s.in.push(old.in[i]); s.out.push(old.out[i]); }
      });
    }
    state.series.set(app, s);
  }

  // backfill loads, in one request, the last 15 minutes of the busiest
  // apps, of those already drawn and of the focused one, so a page opened
  // (or reconnected) late shows what it missed.
  G.backfill = function () {
    if (!state.snap) return Promise.resolve();
    var apps = state.snap.apps.slice(0, TOP + 2).map(function (a) { return a.app; });
    if (apps.indexOf(OTHER) < 0 && state.snap.apps.some(function (a) { return a.app === OTHER; })) apps.push(OTHER);
    state.series.forEach(function (_, app) { if (apps.indexOf(app) < 0 && apps.length < 2 * TOP) apps.push(app); });
    if (state.focus && apps.indexOf(state.focus) < 0) apps.push(state.focus);
    return histories(apps, '15m').then(function (hs) {
      hs.forEach(function (h) { merge(h.app, h.points); });
      if (state.range === '15m') renderLive();
    }, function (err) { if (err instanceof B.AuthError) throw err; });
  };

  // topLive picks the apps that moved the most within the window, and the
  // "(other)" row besides when it has moved bytes too; or the focused app.
  function topLive() {
    if (state.focus) return [state.focus];
    var sums = [], other = false;
    state.series.forEach(function (s, app) {
      if (app === OTHER) { other = true; return; }
      var b = 0;
      for (var i = 0; i < s.t.length; i++) b += (s.in[i] + s.out[i]) * s.dt[i];
      sums.push([app, b]);
    });
    sums.sort(function (x, y) { return y[1] - x[1] || (x[0] < y[0] ? -1 : 1); });
    var apps = sums.slice(0, TOP).map(function (x) { return x[0]; }).sort();
    if (other) apps.push(OTHER);
    return apps;
  }

  // align resamples each app's steps onto one time axis: the value at x is
  // that of the app's first point ending at or after x.
  function align(apps, field) {
    var xs = [];
    apps.forEach(function (app) {
      var s = state.series.get(app);
      if (!s) return;
      xs = xs.concat(s.t);
      if (s.t.length) xs.push(s.t[0] - s.dt[0]); // where the first step starts
    });
    xs.sort(function (a, b) { return a - b; });
    xs = xs.filter(function (x, i) { return i === 0 || x - xs[i - 1] > 0.05; });
    var data = [xs];
    apps.forEach(function (app) {
      var s = state.series.get(app) || { t: [] }, j = 0, ys = new Array(xs.length);
      for (var i = 0; i < xs.length; i++) {
        while (j < s.t.length && s.t[j] < xs[i] - 0.05) j++;
        ys[i] = j < s.t.length ? s[field][j] : null;
        if (j === 0 && xs[i] < s.t[0] - 0.05) ys[i] = 0; // not yet active
      }
      data.push(ys);
    });
    return data;
  }

  function renderLive() {
    var apps = topLive();
    assignColors(apps);
    var sIn = [], sOut = [];
    apps.forEach(function (app) {
      sIn.push(stepSeries(B.label(app), state.colors.get(app)));
      sOut.push(stepSeries(B.label(app), state.colors.get(app)));
    });
    draw('15m|' + (state.bits ? 'b|' : 'B|') + apps.join('\u0000'), apps, false, sIn, sOut, align(apps, 'in'), align(apps, 'out'));
  }

  // --- the last 24 hours ---

  function loadDay() {
    if (!state.snap) return;
    var apps;
    if (state.focus) {
      apps = [state.focus];
    } else {
      var byTotal = state.snap.apps.filter(function (a) { return a.app !== OTHER; }).sort(function (x, y) {
        return (y.bytes_in + y.bytes_out) - (x.bytes_in + x.bytes_out);
      });
      apps = byTotal.slice(0, TOP).map(function (a) { return a.app; }).sort();
      // "(other)" is drawn besides, and only when the agent kept a
      // history of it: an app with none gets no line.
      if (state.snap.apps.some(function (a) { return a.app === OTHER; })) apps.push(OTHER);
    }
    var focus = state.focus;
    histories(apps, '24h').then(function (hs) {
      if (focus !== state.focus) return;
      state.day = hs.filter(function (h) { return h.points.length; });
      if (state.range === '24h') renderDay();
    }, function () {});
  }

  function renderDay() {
    var hs = state.day || [];
    var apps = hs.map(function (h) { return h.app; });
    assignColors(apps);
    var xs = [];
    hs.forEach(function (h) {
      h.points.forEach(function (p) { xs.push(p.t); });
      xs.push(h.points[0].t - h.points[0].duration_s); // where the first step starts
    });
    xs.sort(function (a, b) { return a - b; });
    xs = xs.filter(function (x, i) { return i === 0 || x !== xs[i - 1]; });
    var dIn = [xs], dOut = [xs], sIn = [], sOut = [];
    hs.forEach(function (h) {
      var at = new Map();
      h.points.forEach(function (p) { at.set(p.t, p); });
      var col = function (f) { return xs.map(function (x) { var p = at.get(x); return p ? p[f] : 0; }); };
      var c = state.colors.get(h.app);
      dIn.push(col('in')); dIn.push(col('peak_in'));
      dOut.push(col('out')); dOut.push(col('peak_out'));
      var name = B.label(h.app);
      sIn.push(stepSeries(name, c)); sIn.push(stepSeries(name + ' (peak)', c, [4, 3]));
      sOut.push(stepSeries(name, c)); sOut.push(stepSeries(name + ' (peak)', c, [4, 3]));
    });
    draw('24h|' + (state.bits ? 'b|' : 'B|') + apps.join('\u0000'), apps, true, sIn, sOut, dIn, dOut);
  }

  // --- colours ---

  function colorOf(app, taken) {
    var c = state.colors.get(app);
    if (c && taken.indexOf(c) < 0) return c;
    for (var i = 0; i < COLORS.length; i++) {
      if (taken.indexOf(COLORS[i]) < 0) return COLORS[i];
    }
    return COLORS[COLORS.length - 1];
  }

  // assignColors keeps an app's colour while it stays among those drawn.
  function assignColors(apps) {
    var keep = new Map(), taken = [];
    apps.forEach(function (app) {
      var c = state.colors.get(app);
      if (c && taken.indexOf(c) < 0) { keep.set(app, c); taken.push(c); }
    });
    apps.forEach(function (app) {
      if (!keep.has(app)) { var c = colorOf(app, taken); keep.set(app, c); taken.push(c); }
    });
    state.colors = keep;
  }

  // --- charts ---

  // Rate axis steps that read well: powers of two in bytes/s (512 KiB,
  // 1 MiB, 1.5 MiB), 1, 2, 5 times a power of ten in bits/s (the values
  // stay bytes/s, so divide by 8).
  var byteIncrs = [], bitIncrs = [];
  for (var k = 0; k < 51; k++) byteIncrs.push(Math.pow(2, k));
  for (var e = 0; e < 15; e++) {
    [1, 2, 5].forEach(function (m) { bitIncrs.push(m * Math.pow(10, e) / 8); });
  }

  var AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  var measure = document.createElement('canvas').getContext('2d');
  measure.font = AXIS_FONT;

  // axisSize fits the rate axis to its widest label, so a narrow screen
  // keeps room for the graph and a wide label is never cut; at least as
  // wide as a typical label of the unit, so that the two graphs' time axes
  // line up.
  function axisSize(u, values) {
    var w = measure.measureText(state.bits ? '500 kbit/s' : '768 KiB/s').width;
    (values || []).forEach(function (v) { w = Math.max(w, measure.measureText(v).width); });
    return Math.max(40, Math.ceil(w) + 16);
  }

  // stepIdx is the index of the step under x: steps end at their x (they
  // are drawn aligned to their end), so it is the first x at or after it.
  function stepIdx(xs, x) {
    if (x == null || !xs.length) return null;
    var lo = 0, hi = xs.length - 1;
    if (x >= xs[hi]) return hi;
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function chartHeight() { return B.narrow() ? 150 : 200; }

  function chartOpts(series, minSpan) {
    return G.makeOpts(series, minSpan, $('chart-in').clientWidth || 800, updateLegend);
  }

  // makeOpts are the options of a chart of rates, width pixels wide, of
  // stepped series; onCursor gets the index of the step under the cursor,
  // or null when it leaves. Charts made with it share their cursor (the
  // interface graph's and the apps').
  G.makeOpts = function (series, minSpan, width, onCursor) {
    return {
      width: width,
      height: chartHeight(),
      legend: { show: false },
      cursor: {
        sync: { key: 'bwmon' },
        drag: { x: false, y: false },
        y: false, // a rate line across would read as a threshold
        dataIdx: function (u, si, closest, x) { return stepIdx(u.data[0], x); },
      },
      hooks: { setCursor: [function (u) { onCursor(u.cursor.left >= 0 ? u.cursor.idx : null); }] },
      scales: {
        // At least minSpan seconds wide, so a young agent's few points do
        // not stretch over sub-second ticks.
        x: {
          time: true,
          range: function (u, min, max) {
            if (min == null || max == null) { max = Date.now() / 1000; min = max; }
            return [Math.min(min, max - minSpan), max];
          },
        },
        y: { range: function (u, min, max) { return [0, Math.max(max * 1.1, 1)]; } },
      },
      axes: [
        { stroke: '#6b7280', font: AXIS_FONT, space: 70, grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6eb' } },
        {
          stroke: '#6b7280', font: AXIS_FONT, size: axisSize, space: 36,
          grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6eb' },
          incrs: state.bits ? bitIncrs : byteIncrs,
          values: function (u, vals) {
            return vals.map(function (v) { return B.fmtRate(v).replace(/\.0+ /, ' '); });
          },
        },
      ],
      series: [{}].concat(series),
    };
  };

  G.stepSeries = stepSeries;
  G.chartHeight = chartHeight;

  function stepSeries(name, color, dash) {
    return {
      label: name,
      stroke: color,
      width: dash ? 1 : 1.5,
      dash: dash || undefined,
      paths: uPlot.paths.stepped({ align: -1 }),
      points: { show: false },
    };
  }

  // draw (re)builds the charts when the set of series changes, else only
  // swaps the data.
  function draw(key, apps, peaks, seriesIn, seriesOut, dataIn, dataOut) {
    var c = state.charts;
    var empty = dataIn.length < 2 || dataIn[0].length === 0;
    ['chart-in', 'chart-out'].forEach(function (id) { $(id).classList.toggle('empty', empty); });
    c.apps = empty ? [] : apps;
    c.peaks = peaks;
    c.dataIn = dataIn;
    c.dataOut = dataOut;
    if (empty) {
      destroyCharts();
      $('chart-in').textContent = state.range === '24h' && state.day === null ? 'Asking the agent…'
        : state.focus ? B.label(state.focus) + ' has moved no bytes in this span.'
          : 'No app has moved bytes yet.';
      $('chart-out').textContent = '';
      renderLegend();
      return;
    }
    if (c.key !== key || !c.in) {
      destroyCharts();
      $('chart-in').textContent = '';
      $('chart-out').textContent = '';
      var span = state.range === '15m' ? 60 : 3600;
      c.in = new uPlot(chartOpts(seriesIn, span), dataIn, $('chart-in'));
      c.out = new uPlot(chartOpts(seriesOut, span), dataOut, $('chart-out'));
      c.key = key;
      renderLegend();
    } else {
      c.in.setData(dataIn);
      c.out.setData(dataOut);
    }
    updateLegend(c.in.cursor.left >= 0 ? c.in.cursor.idx : null);
  }

  function destroyCharts() {
    var c = state.charts;
    if (c.in) { c.in.destroy(); c.out.destroy(); }
    c.in = c.out = null;
    c.key = '';
  }

  // --- legend: names, and the values under the cursor (else the latest) ---

  var legendItems = []; // [{app, vin, vout}], in the order drawn

  function renderLegend() {
    var c = state.charts;
    legendItems = c.apps.map(function (app) {
      var li = el('li');
      li.dataset.app = app;
      var sw = el('span', 'swatch');
      sw.style.background = state.colors.get(app);
      var name = el('button', 'name', B.label(app));
      name.type = 'button';
      name.title = state.focus ? B.label(app) : B.label(app) + '\nClick to show it alone, with its processes';
      name.addEventListener('click', function () { B.setFocus(state.focus === app ? null : app); });
      var vin = el('span', 'v v-in'), vout = el('span', 'v v-out');
      li.append(sw, name, vin, vout);
      return { app: app, node: li, vin: vin, vout: vout };
    });
    $('legend').replaceChildren.apply($('legend'), legendItems.map(function (x) { return x.node; }));
    $('legend-head').hidden = !legendItems.length;
  }

  function updateLegend(idx) {
    var c = state.charts;
    if (!legendItems.length || !c.dataIn) return;
    var xs = c.dataIn[0], hover = idx != null;
    if (!hover) idx = xs.length - 1;
    var per = c.peaks ? 2 : 1;
    var val = function (data, i, peak) {
      var v = data[1 + i * per + (peak ? 1 : 0)];
      return v ? v[idx] : null;
    };
    legendItems.forEach(function (it, i) {
      var vi = val(c.dataIn, i), vo = val(c.dataOut, i);
      var tin = 'in ' + B.fmtRate(vi), tout = 'out ' + B.fmtRate(vo);
      if (c.peaks) {
        tin += ' (peak ' + B.fmtRate(val(c.dataIn, i, true)) + ')';
        tout += ' (peak ' + B.fmtRate(val(c.dataOut, i, true)) + ')';
      }
      setText(it.vin, tin);
      setText(it.vout, tout);
    });
    var at;
    if (c.peaks) {
      var end = new Date(xs[idx] * 1000), start = new Date((xs[idx] - 60) * 1000);
      var hm = function (d) { return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); };
      at = (hover ? 'Minute ' : 'Latest minute, ') + hm(start) + '–' + hm(end);
    } else {
      at = (hover ? 'At ' : 'Latest, ') + new Date(xs[idx] * 1000).toLocaleTimeString();
    }
    setText($('legend-at'), at);
    $('legend-head').classList.toggle('hovering', hover);
  }

  // --- range, focus, units, size ---

  function titles() {
    var who = state.focus ? B.label(state.focus) : null;
    setText($('graph-title'), state.range === '15m'
      ? (who ? who + ', last 15 minutes' : 'Top apps, last 15 minutes')
      : (who ? who + ', last 24 hours' : 'Top apps by volume, last 24 hours'));
    setText($('graph-note'), state.range === '15m'
      ? 'Each step is the average rate over one tick.'
      : 'Each step is the average rate over one minute; the dashed line is its highest 1-second rate.');
    $('focus-bar').hidden = !state.focus;
    setText($('focus-name'), who || '');
  }

  function setRange(r) {
    state.range = r;
    $('range-15m').setAttribute('aria-pressed', String(r === '15m'));
    $('range-24h').setAttribute('aria-pressed', String(r === '24h'));
    titles();
    destroyCharts();
    if (r === '15m') renderLive(); else { renderDay(); loadDay(); }
    B.links.rangeChanged();
  }
  $('range-15m').addEventListener('click', function () { setRange('15m'); });
  $('range-24h').addEventListener('click', function () { setRange('24h'); });
  setInterval(function () { if (state.range === '24h' && state.ws) loadDay(); }, 60000);

  // focusChanged draws the focused app alone (or the busiest again),
  // asking for its history when the page has none.
  G.focusChanged = function () {
    titles();
    destroyCharts();
    var app = state.focus;
    if (state.range === '24h') { state.day = null; renderDay(); loadDay(); return; }
    renderLive();
    if (app && !(state.series.get(app) || { t: [] }).t.length) {
      histories([app], '15m').then(function (hs) {
        hs.forEach(function (h) { merge(h.app, h.points); });
        if (state.focus === app && state.range === '15m') renderLive();
      }, function () {});
    }
  };

  G.render = function () {
    destroyCharts();
    if (state.range === '15m') renderLive(); else renderDay();
  };

  G.resize = function () {
    var c = state.charts, w = $('chart-in').clientWidth, h = chartHeight();
    if (c.in) { c.in.setSize({ width: w, height: h }); c.out.setSize({ width: w, height: h }); }
  };

  $('focus-clear').addEventListener('click', function () { B.setFocus(null); });

  // For tests and the curious: the charts' point counts.
  B.points = function () { return state.charts.in ? state.charts.in.data[0].length : 0; };

  titles();
})();
