// bwmon's page: the interface graph, as a link's traffic graph draws it,
// above the apps' graph. It shows the IP-layer rate of the interfaces
// coverage counts (their sum, and the busiest of them when there are
// several), with what bwmon accounted for of it as a dashed line: the gap
// between the two is what no app, forwarded pair or unattributed reason
// explains. Coverage is beside it; the table of interfaces under it. It
// follows the apps' graph's range: the last 15 minutes (ticks from the
// WebSocket, the start from GET /api/v1/interfaces) or 24 hours (minute
// averages). Interface names are untrusted: text only.
(function () {
  'use strict';

  var B = window.bwmon, state = B.state, $ = B.$, el = B.el, setText = B.setText;
  var L = B.links = {};

  var WINDOW_S = 15 * 60;
  var TOP = 3; // interfaces drawn one by one, besides their sum
  var TOTAL = '#1d2330', ACCOUNTED = '#16a34a';
  var COLORS = ['#0891b2', '#d97706', '#7c3aed'];

  // ticks: the last 15 minutes, one {t, dt, total: [in, out], acc: [in,
  // out], ifs: Map key -> [in, out]} a tick, oldest first.
  var ticks = [];
  var day = null; // the 24-hour view: GET /api/v1/interfaces?since=24h
  var charts = { in: null, out: null, key: '', data: null, names: [] };
  var rows = new Map();

  function key(netns, name) { return netns ? netns + '\u0000' + name : name; }
  function label(k) {
    var i = k.indexOf('\u0000');
    return i < 0 ? k : k.slice(i + 1) + ' (netns ' + k.slice(0, i) + ')';
  }
  function pct(p) { return p == null ? '–' : (100 * p).toFixed(1) + '%'; }

  L.onSnapshot = function (snap) {
    var ifs = snap.interfaces || [];
    $('links-card').hidden = !ifs.length;
    if (!ifs.length) return;
    var t = Date.parse(snap.time) / 1000, dt = snap.interval_s, c = snap.coverage;
    if (!ticks.length || ticks[ticks.length - 1].t < t) {
      var rec = { t: t, dt: dt, total: [c.interface_bytes_in / dt, c.interface_bytes_out / dt],
        acc: [c.accounted_bytes_in / dt, c.accounted_bytes_out / dt], ifs: new Map() };
      ifs.forEach(function (l) {
        if (l.role === 'counted' && l.name !== B.OTHER) rec.ifs.set(key(l.netns, l.name), [l.rate_in, l.rate_out]);
      });
      ticks.push(rec);
      while (ticks.length && ticks[0].t <= t - WINDOW_S) ticks.shift();
    }
    renderCoverage(c);
    renderTable(ifs);
    if (state.range === '15m') draw();
  };

  // backfill loads the last 15 minutes the page missed.
  L.backfill = function () {
    return B.api('/api/v1/interfaces?since=15m').then(function (h) {
      if (!h || !h.total.length) return;
      var first = ticks.length ? ticks[0].t : Infinity;
      var byT = new Map(), old = [];
      h.total.forEach(function (p) {
        if (p.t >= first - 0.05) return;
        var rec = { t: p.t, dt: p.duration_s, total: [p.in, p.out], acc: [0, 0], ifs: new Map() };
        byT.set(p.t, rec);
        old.push(rec);
      });
      h.accounted.forEach(function (p) { var r = byT.get(p.t); if (r) r.acc = [p.in, p.out]; });
      h.interfaces.forEach(function (l) {
        l.points.forEach(function (p) { var r = byT.get(p.t); if (r) r.ifs.set(key(l.netns, l.name), [p.in, p.out]); });
      });
      ticks = old.concat(ticks);
      if (state.range === '15m') draw();
    }, function (err) { if (err instanceof B.AuthError) throw err; });
  };

  function loadDay() {
    B.api('/api/v1/interfaces?since=24h').then(function (h) {
      day = h;
      if (state.range === '24h') draw();
    }, function () {});
  }
  setInterval(function () { if (state.range === '24h' && state.ws && !$('links-card').hidden) loadDay(); }, 60000);

  L.rangeChanged = function () {
    destroy();
    setText($('links-title'), state.range === '15m' ? 'Interfaces, last 15 minutes' : 'Interfaces, last 24 hours');
    if (state.range === '24h') { day = null; loadDay(); }
    draw();
  };

  // series returns what to draw: [{name, color, dash, in: [], out: []}]
  // over xs, from the 15-minute ticks or the day's minutes.
  function series() {
    var xs = [], total = { in: [], out: [] }, acc = { in: [], out: [] }, per = new Map();
    if (state.range === '15m') {
      ticks.forEach(function (r, i) {
        if (i === 0) pushAll(r.t - r.dt, r, true);
        pushAll(r.t, r, false);
      });
    } else if (day && day.total.length) {
      var accAt = new Map(), ifAt = new Map();
      day.accounted.forEach(function (p) { accAt.set(p.t, p); });
      day.interfaces.forEach(function (l) {
        var k = key(l.netns, l.name);
        l.points.forEach(function (p) {
          if (!ifAt.has(p.t)) ifAt.set(p.t, new Map());
          ifAt.get(p.t).set(k, [p.in, p.out]);
        });
      });
      day.total.forEach(function (p, i) {
        var a = accAt.get(p.t) || { in: 0, out: 0 };
        var r = { t: p.t, dt: p.duration_s, total: [p.in, p.out], acc: [a.in, a.out], ifs: ifAt.get(p.t) || new Map() };
        if (i === 0) pushAll(p.t - p.duration_s, r, true);
        pushAll(p.t, r, false);
      });
    }
    function pushAll(x, r, zero) {
      xs.push(x);
      total.in.push(zero ? 0 : r.total[0]); total.out.push(zero ? 0 : r.total[1]);
      acc.in.push(zero ? 0 : r.acc[0]); acc.out.push(zero ? 0 : r.acc[1]);
      r.ifs.forEach(function (v, k) {
        if (!per.has(k)) per.set(k, { vol: 0, at: new Map() });
        var s = per.get(k);
        if (!zero) { s.at.set(xs.length - 1, v); s.vol += (v[0] + v[1]) * r.dt; }
      });
    }
    var out = [
      { name: 'All counted interfaces', color: TOTAL, in: total.in, out: total.out },
      { name: 'Explained by bwmon', color: ACCOUNTED, dash: [6, 4], in: acc.in, out: acc.out },
    ];
    // One by one only when there are several: one interface is the sum.
    if (per.size > 1) {
      var top = Array.from(per.entries()).sort(function (x, y) { return y[1].vol - x[1].vol || (x[0] < y[0] ? -1 : 1); }).slice(0, TOP);
      top.forEach(function (e, i) {
        var vin = [], vout = [];
        xs.forEach(function (_, j) { var v = e[1].at.get(j); vin.push(v ? v[0] : 0); vout.push(v ? v[1] : 0); });
        out.push({ name: label(e[0]), color: COLORS[i], thin: true, in: vin, out: vout });
      });
    }
    return { xs: xs, list: out };
  }

  function draw() {
    if ($('links-card').hidden) return;
    var s = series();
    var empty = s.xs.length < 2;
    ['links-in', 'links-out'].forEach(function (id) { $(id).classList.toggle('empty', empty); });
    if (empty) {
      destroy();
      $('links-in').textContent = state.range === '24h' && day === null ? 'Asking the agent…' : 'Waiting for the interfaces to move bytes…';
      $('links-out').textContent = '';
      renderLegend([]);
      return;
    }
    var dIn = [s.xs], dOut = [s.xs], sIn = [], sOut = [];
    s.list.forEach(function (x) {
      dIn.push(x.in); dOut.push(x.out);
      var mk = function () {
        var st = B.graph.stepSeries(x.name, x.color, x.dash);
        if (!x.thin && !x.dash) st.width = 2;
        return st;
      };
      sIn.push(mk()); sOut.push(mk());
    });
    charts.data = { in: dIn, out: dOut };
    var k = state.range + '|' + (state.bits ? 'b|' : 'B|') + s.list.map(function (x) { return x.name; }).join('\u0000');
    if (charts.key !== k || !charts.in) {
      destroy();
      $('links-in').textContent = '';
      $('links-out').textContent = '';
      var span = state.range === '15m' ? 60 : 3600, w = $('links-in').clientWidth || 800;
      charts.in = new uPlot(B.graph.makeOpts(sIn, span, w, updateLegend), dIn, $('links-in'));
      charts.out = new uPlot(B.graph.makeOpts(sOut, span, w, updateLegend), dOut, $('links-out'));
      charts.key = k;
      renderLegend(s.list);
    } else {
      charts.in.setData(dIn);
      charts.out.setData(dOut);
    }
    updateLegend(charts.in.cursor.left >= 0 ? charts.in.cursor.idx : null);
  }

  function destroy() {
    if (charts.in) { charts.in.destroy(); charts.out.destroy(); }
    charts.in = charts.out = null;
    charts.key = '';
  }

  var legend = [];
  function renderLegend(list) {
    legend = list.map(function (x) {
      var li = el('li'), sw = el('span', 'swatch' + (x.dash ? ' dashed' : ''));
      if (x.dash) sw.style.borderTopColor = x.color; else sw.style.background = x.color;
      var vin = el('span', 'v v-in'), vout = el('span', 'v v-out');
      li.append(sw, el('span', 'name', x.name), vin, vout);
      return { node: li, vin: vin, vout: vout };
    });
    $('links-legend').replaceChildren.apply($('links-legend'), legend.map(function (x) { return x.node; }));
  }

  function updateLegend(idx) {
    if (!legend.length || !charts.data) return;
    var xs = charts.data.in[0];
    if (idx == null) idx = xs.length - 1;
    legend.forEach(function (it, i) {
      setText(it.vin, 'in ' + B.fmtRate(charts.data.in[i + 1][idx]));
      setText(it.vout, 'out ' + B.fmtRate(charts.data.out[i + 1][idx]));
    });
  }

  // renderCoverage says how much of the interfaces' traffic bwmon
  // explained: over 15 minutes first, the tick and the day besides.
  function renderCoverage(c) {
    var w = c.last_15m;
    var low = [w.in, w.out].some(function (v) { return v != null && v < 0.95; });
    var box = $('coverage');
    box.classList.toggle('low', low);
    setText($('coverage-main'), 'in ' + pct(w.in) + ' · out ' + pct(w.out));
    setText($('coverage-more'), 'last tick ' + pct(c.in) + ' · ' + pct(c.out) + ', 24 hours ' + pct(c.last_24h.in) + ' · ' + pct(c.last_24h.out));
    box.title = 'Of the IP-layer bytes of the counted interfaces, the share bwmon put under an app, a forwarded pair ' +
      'or an unattributed reason. Over 15 minutes: ' + B.fmtBytes(w.accounted_bytes_in) + ' of ' + B.fmtBytes(w.interface_bytes_in) +
      ' in, ' + B.fmtBytes(w.accounted_bytes_out) + ' of ' + B.fmtBytes(w.interface_bytes_out) + ' out.';
  }

  var ROLES = { counted: '', loopback: 'loopback, not counted', port: 'bridge or bond port, not counted', stacked: 'on a lower device, not counted' };

  function renderTable(ifs) {
    B.sync($('interfaces-rows'), rows, ifs, function (l) { return key(l.netns, l.name); }, function () {
      var r = { node: el('tr') };
      r.name = el('td', 'text');
      r.nm = el('span', 'name');
      r.sub = el('span', 'where');
      r.name.append(r.nm, r.sub);
      r.cells = [el('td'), el('td'), el('td'), el('td')];
      r.node.append.apply(r.node, [r.name].concat(r.cells));
      return r;
    }, function (r, l) {
      var folded = l.name === B.OTHER && l.folded;
      setText(r.nm, folded ? '(other: ' + l.folded + ' interfaces)' : l.name);
      var sub = [l.kind, ROLES[l.role], l.netns ? 'netns ' + l.netns : '', l.ip_estimated ? 'IP bytes estimated' : '']
        .filter(function (x) { return x; }).join(' · ');
      setText(r.sub, sub);
      r.node.className = l.role === 'counted' ? '' : 'idle';
      setText(r.cells[0], B.fmtRate(l.rate_in));
      setText(r.cells[1], B.fmtRate(l.rate_out));
      setText(r.cells[2], B.fmtBytes(l.bytes_in));
      setText(r.cells[3], B.fmtBytes(l.bytes_out));
      r.node.title = 'Link layer: ' + B.fmtBytes(l.link_bytes_in) + ' in, ' + B.fmtBytes(l.link_bytes_out) + ' out; ' +
        l.packets_in + ' packets in, ' + l.packets_out + ' out, since ' + new Date(l.since).toLocaleString();
    });
  }

  L.render = function () { destroy(); draw(); };

  L.resize = function () {
    var w = $('links-in').clientWidth, h = B.graph.chartHeight();
    if (charts.in) { charts.in.setSize({ width: w, height: h }); charts.out.setSize({ width: w, height: h }); }
  };

  // For tests: the interface graph's point count and its series' names.
  B.linkPoints = function () { return charts.in ? charts.in.data[0].length : 0; };
  B.linkSeries = function () { return charts.in ? charts.in.series.slice(1).map(function (s) { return s.label; }) : []; };
})();
