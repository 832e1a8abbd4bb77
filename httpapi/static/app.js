// bwmon's page: a live table and graph fed by /api/v1/live, with history
// from /api/v1/history. App names are untrusted strings (any command line):
// they only ever go into textContent, never into HTML.
(function () {
  'use strict';

  var WINDOW_S = 15 * 60;     // the live graph's span
  var TOP = 6;                // apps drawn
  var COLORS = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];
  var BACKOFF_S = [1, 2, 4, 8, 15, 30];
  var OTHER = '(other)';      // the row the apps beyond the agent's limits are folded into
  var STATS_EVERY_MS = 60000; // how often the limits are asked for again

  var state = {
    token: sessionStorage.getItem('bwmon.token') || '',
    bits: sessionStorage.getItem('bwmon.unit') === 'bits',
    sort: { key: null, dir: -1 },   // null: the agent's order, busiest first
    snap: null,
    lastTick: 0,                    // ms, local clock, of the latest message
    series: new Map(),              // app -> {t: [], dt: [], in: [], out: []}
    colors: new Map(),              // app -> colour, stable while drawn
    range: '15m',
    ws: null,
    attempt: 0,
    retryAt: 0,
    retryTimer: 0,
    charts: { in: null, out: null, key: '' },
    day: null,                      // 24-hour view: {apps, data}
    stats: null,                    // GET /api/v1/stats: the agent's limits
    full: 0,                        // the agent's cap when it refused our WebSocket, else 0
  };

  var $ = function (id) { return document.getElementById(id); };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // label is how the page names an app: its name, except for the row of
  // the apps folded beyond the agent's limits, which says how many.
  function label(app) {
    if (app !== OTHER) return app;
    var a = state.snap && state.snap.apps.find(function (x) { return x.app === OTHER; });
    return a && a.folded ? '(other: ' + a.folded + ' apps)' : app;
  }

  // --- units ---

  function fmtBytes(n) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + u[i];
  }

  function fmtRate(bps) {
    if (bps == null) return '–';
    if (!state.bits) return fmtBytes(bps) + '/s';
    var v = bps * 8;
    var u = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
    var i = 0;
    while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + u[i];
  }

  // --- talking to the agent ---

  function AuthError() { this.message = 'unauthorized'; }

  function api(path) {
    var headers = {};
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    return fetch(path, { headers: headers, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) throw new AuthError();
      if (r.status === 503) return null; // no tick yet
      if (!r.ok) throw new Error(path + ': HTTP ' + r.status);
      return r.json();
    });
  }

  function b64url(s) {
    var bytes = new TextEncoder().encode(s);
    var bin = '';
    bytes.forEach(function (b) { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // connect checks the agent answers (and the token), loads the history,
  // then opens the WebSocket.
  function connect() {
    clearTimeout(state.retryTimer);
    state.retryTimer = 0;
    setStatus('connecting…', '');
    api('/api/v1/apps').then(function (snap) {
      $('token-form').hidden = true;
      if (snap) onSnapshot(snap);
      loadStats();
      return backfill();
    }).then(openSocket, function (err) {
      if (err instanceof AuthError) { askToken(); return; }
      unreachable();
    });
  }

  function openSocket() {
    var protocols = ['bwmon'];
    if (state.token) protocols.push('bearer.' + b64url(state.token));
    var scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var ws = new WebSocket(scheme + '//' + location.host + '/api/v1/live', protocols);
    state.ws = ws;
    var openedAt = 0;
    ws.onopen = function () {
      openedAt = Date.now();
      state.attempt = 0;
      state.full = 0;
      $('banner').hidden = true;
      state.lastTick = Date.now();
    };
    ws.onmessage = function (ev) {
      var snap;
      try { snap = JSON.parse(ev.data); } catch (e) { return; }
      onSnapshot(snap);
    };
    ws.onclose = function () {
      if (state.ws !== ws) return;
      state.ws = null;
      // A connection that worked for a while gets one quiet retry at once
      // (the agent drops a client that fell behind); the banner, and the
      // backoff, are for failures.
      if (openedAt && Date.now() - openedAt > 5000) { connect(); return; }
      unreachable();
      // A browser does not tell why a WebSocket was refused: the stats
      // say whether the agent serves as many pages as it will.
      if (!openedAt) {
        loadStats().then(function (st) {
          var ws = st && st.websocket, lim = st && st.limits;
          state.full = ws && lim && ws.clients >= lim.websocket_clients ? lim.websocket_clients : 0;
          updateBanner();
        });
      }
    };
  }

  function unreachable() {
    if (state.ws) { var ws = state.ws; state.ws = null; ws.close(); }
    var delay = BACKOFF_S[Math.min(state.attempt, BACKOFF_S.length - 1)];
    delay *= 0.8 + Math.random() * 0.4;
    state.attempt++;
    state.retryAt = Date.now() + delay * 1000;
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(connect, delay * 1000);
    $('banner').hidden = false;
    setStatus('offline', 'down');
    updateBanner();
  }

  function updateBanner() {
    if ($('banner').hidden) return;
    var s = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
    var since = state.lastTick ? ' Last data at ' + new Date(state.lastTick).toLocaleTimeString() + '.' : '';
    var why = state.full ? 'Its limit of live pages ([limits] websocket_clients = ' + state.full + ') is reached: close another, or wait.'
      : 'The page gets no data from it.';
    $('banner-text').textContent = why + since +
      (state.retryTimer ? ' Retrying in ' + s + ' s.' : ' Retrying…');
  }

  function askToken() {
    setStatus('needs a token', 'down');
    $('banner').hidden = true;
    var f = $('token-form');
    $('token-error').textContent = state.token ? 'That token was refused.' : '';
    $('token').value = '';
    f.hidden = false;
    $('token').focus();
  }

  $('token-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    state.token = $('token').value.trim();
    sessionStorage.setItem('bwmon.token', state.token);
    connect();
  });
  $('retry').addEventListener('click', connect);

  // A connection that stays open but brings nothing is as bad as none.
  setInterval(function () {
    updateBanner();
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
    var iv = state.snap ? state.snap.interval_s * 1000 : 1000;
    if (Date.now() - state.lastTick > Math.max(10000, 10 * iv)) unreachable();
    else setStatus(statusText(), 'live');
  }, 1000);

  function setStatus(text, cls) {
    var s = $('status');
    s.textContent = text;
    s.className = 'status ' + cls;
  }

  function statusText() {
    if (!state.snap) return 'live, waiting for the first tick';
    var t = new Date(state.snap.time);
    return 'live · ' + t.toLocaleTimeString() + ' · tick ' + (+state.snap.interval_s).toFixed(2) + ' s';
  }

  // loadStats asks the agent for its limits; it resolves to them, or to
  // null when the agent does not answer.
  function loadStats() {
    return api('/api/v1/stats').then(function (st) {
      if (st) { state.stats = st; renderBounds(); }
      return st;
    }, function () { return null; });
  }
  setInterval(function () { if (state.ws) loadStats(); }, STATS_EVERY_MS);

  // --- data ---

  function onSnapshot(snap) {
    state.snap = snap;
    state.lastTick = Date.now();
    var t = Date.parse(snap.time) / 1000;
    var dt = snap.interval_s;
    snap.apps.forEach(function (a) {
      var s = state.series.get(a.app);
      if (!s) {
        if (!(a.rate_in > 0 || a.rate_out > 0)) return;
        s = { t: [], dt: [], in: [], out: [] };
        state.series.set(a.app, s);
      }
      if (s.t.length && s.t[s.t.length - 1] >= t) return; // already from history
      s.t.push(t); s.dt.push(dt); s.in.push(a.rate_in); s.out.push(a.rate_out);
    });
    trim(t);
    if (state.ws) setStatus(statusText(), 'live');
    renderTable();
    renderForwarded();
    if (state.range === '15m') renderLive();
  }

  // trim drops points older than the window, and apps with none left or
  // idle throughout.
  function trim(now) {
    state.series.forEach(function (s, app) {
      var i = 0;
      while (i < s.t.length && s.t[i] <= now - WINDOW_S) i++;
      if (i > 0) { s.t.splice(0, i); s.dt.splice(0, i); s.in.splice(0, i); s.out.splice(0, i); }
      if (!s.in.some(function (v, j) { return v > 0 || s.out[j] > 0; })) state.series.delete(app);
    });
  }

  // backfill loads the last 15 minutes of the busiest apps, so a page
  // opened (or reconnected) late shows what it missed.
  function backfill() {
    if (!state.snap) return Promise.resolve();
    var apps = state.snap.apps.slice(0, TOP + 2).map(function (a) { return a.app; });
    if (apps.indexOf(OTHER) < 0 && state.snap.apps.some(function (a) { return a.app === OTHER; })) apps.push(OTHER);
    state.series.forEach(function (_, app) { if (apps.indexOf(app) < 0 && apps.length < 2 * TOP) apps.push(app); });
    return Promise.all(apps.map(function (app) {
      return api('/api/v1/history?since=15m&app=' + encodeURIComponent(app)).then(function (h) {
        if (!h || !h.points.length) return;
        var s = { t: [], dt: [], in: [], out: [] };
        h.points.forEach(function (p) { s.t.push(p.t); s.dt.push(p.duration_s); s.in.push(p.in); s.out.push(p.out); });
        var old = state.series.get(app);
        if (old) {
          var last = s.t[s.t.length - 1];
          old.t.forEach(function (t, i) {
            if (t > last) { s.t.push(t); s.dt.push(old.dt[i]); s.in.push(old.in[i]); s.out.push(old.out[i]); }
          });
        }
        state.series.set(app, s);
      }, function (err) { if (err instanceof AuthError) throw err; });
    })).then(function () { if (state.range === '15m') renderLive(); });
  }

  // --- table ---

  var columns = {
    app: function (a) { return a.app; },
    rate_in: function (a) { return a.rate_in; },
    rate_out: function (a) { return a.rate_out; },
    bytes_in: function (a) { return a.bytes_in; },
    bytes_out: function (a) { return a.bytes_out; },
    procs: function (a) { return processes(a); },
  };

  document.querySelectorAll('#apps th').forEach(function (th) {
    th.querySelector('button').addEventListener('click', function () {
      var key = th.dataset.key;
      if (state.sort.key === key) state.sort.dir = -state.sort.dir;
      else state.sort = { key: key, dir: key === 'app' ? 1 : -1 };
      renderTable();
    });
  });

  // processes is how many processes an app has; the agent lists a bounded
  // number of their PIDs.
  function processes(a) { return Math.max(a.processes || 0, (a.pids || []).length); }

  function renderTable() {
    var snap = state.snap;
    if (!snap) return;
    var apps = snap.apps.slice();
    var key = state.sort.key;
    if (key) {
      var f = columns[key], dir = state.sort.dir;
      apps.sort(function (x, y) {
        var a = f(x), b = f(y);
        var c = typeof a === 'string' ? a.localeCompare(b) : a - b;
        return c !== 0 ? dir * c : x.app.localeCompare(y.app);
      });
    }
    document.querySelectorAll('#apps th').forEach(function (th) {
      if (th.dataset.key === key) th.setAttribute('aria-sort', state.sort.dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });

    var rows = document.createDocumentFragment();
    apps.forEach(function (a) {
      var tr = el('tr', a.rate_in > 0 || a.rate_out > 0 ? '' : 'idle');
      tr.dataset.app = a.app;
      var name = el('td', 'text app' + (a.app === OTHER ? ' other' : ''));
      name.title = a.app === OTHER
        ? 'The apps beyond the agent\'s limits, folded into one row: ' + (a.folded || 0) + ' since it started'
        : a.app;
      var color = state.colors.get(a.app);
      if (color) {
        var dot = el('span', 'dot');
        dot.style.background = color;
        name.appendChild(dot);
      }
      name.appendChild(document.createTextNode(label(a.app)));
      var where = whereOf(a);
      if (where) {
        var w = el('span', 'where', where);
        name.appendChild(w);
        name.title += '\n' + where;
      }
      tr.appendChild(name);
      tr.appendChild(el('td', 'rate-in', fmtRate(a.rate_in)));
      tr.appendChild(el('td', 'rate-out', fmtRate(a.rate_out)));
      tr.appendChild(el('td', '', fmtBytes(a.bytes_in)));
      tr.appendChild(el('td', '', fmtBytes(a.bytes_out)));
      var pids = a.pids || [], n = processes(a);
      var p = el('td', 'procs', String(n));
      if (pids.length) {
        p.title = 'PIDs ' + pids.join(', ') + (n > pids.length ? ' (' + pids.length + ' of ' + n + ')' : '');
        p.appendChild(el('span', 'pids', pids.slice(0, 2).join(' ') + (pids.length > 2 ? ' …' : '')));
      }
      tr.appendChild(p);
      rows.appendChild(tr);
    });
    $('rows').replaceChildren(rows);

    var u = snap.unattributed, foot = $('unattributed');
    if (u && u.bytes_in + u.bytes_out > 0) {
      var tr = el('tr');
      var name = el('td', 'text app', '(unattributed)');
      var reasons = Object.keys(u.reasons || {}).sort().map(function (r) {
        var s = u.reasons[r];
        return r + ' ' + fmtBytes(s.bytes_in + s.bytes_out);
      });
      name.appendChild(el('span', 'reasons', reasons.join(' · ')));
      name.title = 'Bytes seen but not tied to a process, by reason';
      tr.appendChild(name);
      tr.appendChild(el('td', '', fmtRate(u.rate_in)));
      tr.appendChild(el('td', '', fmtRate(u.rate_out)));
      tr.appendChild(el('td', '', fmtBytes(u.bytes_in)));
      tr.appendChild(el('td', '', fmtBytes(u.bytes_out)));
      tr.appendChild(el('td', '', ''));
      foot.replaceChildren(tr);
    } else {
      foot.replaceChildren();
    }
    var named = snap.apps.filter(function (a) { return a.app !== OTHER; });
    var active = named.filter(function (a) { return a.rate_in > 0 || a.rate_out > 0; }).length;
    $('summary').textContent = named.length + ' apps, ' + active + ' active';
    renderBounds();
  }

  // renderBounds says, under the table, what the agent lists by name and
  // how many apps it folded into the "(other)" row.
  function renderBounds() {
    var st = state.stats, lim = st && st.limits;
    if (!lim) { $('bounds').textContent = ''; return; }
    var other = state.snap && state.snap.apps.find(function (a) { return a.app === OTHER; });
    var folded = other && other.folded ? other.folded : st.folded_apps;
    var text = 'Listing at most ' + lim.apps + ' apps by name: those active in the last ' +
      fmtSpan(lim.active_window_s) + ' and the ' + lim.top_apps + ' largest';
    text += folded ? '; ' + folded + ' folded into ' + OTHER + '.' : '.';
    $('bounds').textContent = text;
  }

  function fmtSpan(s) {
    if (s % 3600 === 0) return s / 3600 + ' h';
    if (s % 60 === 0) return s / 60 + ' min';
    return s + ' s';
  }

  // whereOf says where an app's processes run, when that is not simply the
  // host: their containers and their network namespaces.
  function whereOf(a) {
    var parts = [];
    (a.containers || []).forEach(function (c) {
      var id = c.name || (c.id ? c.id.slice(0, 12) : c.pod_uid || '');
      if (id) parts.push((c.runtime ? c.runtime + ' ' : '') + id);
    });
    (a.netns || []).forEach(function (ns) { parts.push('netns ' + ns); });
    return parts.join(' · ');
  }

  var MAX_FORWARDED = 100; // rows drawn; the agent lists up to about 1024

  // renderForwarded shows the pairs of hosts the host routed, busiest
  // first, and nothing at all on a host that routes nothing.
  function renderForwarded() {
    var f = state.snap && state.snap.forwarded;
    var hosts = (f && f.hosts) || [];
    $('forwarded-card').hidden = hosts.length === 0;
    if (!hosts.length) { $('forwarded-rows').replaceChildren(); return; }
    var rows = document.createDocumentFragment();
    hosts.slice(0, MAX_FORWARDED).forEach(function (h) {
      var tr = el('tr', h.rate_in > 0 || h.rate_out > 0 ? '' : 'idle');
      tr.dataset.inside = h.inside;
      tr.dataset.remote = h.remote;
      var inside = el('td', 'text host inside', h.inside);
      inside.title = h.inside;
      var remote = el('td', 'text host remote', h.remote === '*' ? '* (others, folded)' : h.remote);
      remote.title = h.remote === '*' ? 'Every other remote host: the agent lists a bounded number of pairs' : h.remote;
      tr.appendChild(inside);
      tr.appendChild(remote);
      tr.appendChild(el('td', 'rate-in', fmtRate(h.rate_in)));
      tr.appendChild(el('td', 'rate-out', fmtRate(h.rate_out)));
      tr.appendChild(el('td', 'bytes-in', fmtBytes(h.bytes_in)));
      tr.appendChild(el('td', 'bytes-out', fmtBytes(h.bytes_out)));
      rows.appendChild(tr);
    });
    $('forwarded-rows').replaceChildren(rows);
    $('forwarded-more').textContent = hosts.length > MAX_FORWARDED
      ? 'The busiest ' + MAX_FORWARDED + ' of ' + hosts.length + ' pairs are shown.' : '';
    $('forwarded-summary').textContent = fmtRate(f.rate_in) + ' in, ' + fmtRate(f.rate_out) + ' out · ' +
      fmtBytes(f.bytes_in) + ' in, ' + fmtBytes(f.bytes_out) + ' out in all';
  }

  // --- graphs ---

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

  // topLive picks the apps that moved the most within the window, and the
  // "(other)" row besides when it has moved bytes too.
  function topLive() {
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
      xs = xs.concat(s.t);
      if (s.t.length) xs.push(s.t[0] - s.dt[0]); // where the first step starts
    });
    xs.sort(function (a, b) { return a - b; });
    xs = xs.filter(function (x, i) { return i === 0 || x - xs[i - 1] > 0.05; });
    var data = [xs];
    apps.forEach(function (app) {
      var s = state.series.get(app), j = 0, ys = new Array(xs.length);
      for (var i = 0; i < xs.length; i++) {
        while (j < s.t.length && s.t[j] < xs[i] - 0.05) j++;
        ys[i] = j < s.t.length ? s[field][j] : null;
        if (j === 0 && xs[i] < s.t[0] - 0.05) ys[i] = 0; // not yet active
      }
      data.push(ys);
    });
    return data;
  }

  // Rate axis steps that read well: powers of two in bytes/s (512 KiB,
  // 1 MiB, 1.5 MiB), 1, 2, 5 times a power of ten in bits/s (the values
  // stay bytes/s, so divide by 8).
  var byteIncrs = [], bitIncrs = [];
  for (var k = 0; k < 51; k++) byteIncrs.push(Math.pow(2, k));
  for (var e = 0; e < 15; e++) {
    [1, 2, 5].forEach(function (m) { bitIncrs.push(m * Math.pow(10, e) / 8); });
  }

  function chartOpts(series, height, minSpan) {
    var width = $('chart-in').clientWidth || 800;
    return {
      width: width,
      height: height,
      legend: { show: false },
      cursor: { sync: { key: 'bwmon' }, drag: { x: false, y: false } },
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
        { stroke: '#6b7280', grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6eb' } },
        {
          stroke: '#6b7280', size: 84, grid: { stroke: '#eef0f3' }, ticks: { stroke: '#e3e6eb' },
          incrs: state.bits ? bitIncrs : byteIncrs,
          values: function (u, vals) {
            return vals.map(function (v) { return fmtRate(v).replace(/\.0+ /, ' '); });
          },
        },
      ],
      series: [{}].concat(series),
    };
  }

  function stepSeries(app, color, dash) {
    return {
      label: app,
      stroke: color,
      width: dash ? 1 : 1.5,
      dash: dash || undefined,
      paths: uPlot.paths.stepped({ align: -1 }),
      points: { show: false },
      value: function (u, v) { return fmtRate(v); },
    };
  }

  // draw (re)builds the charts when the set of series changes, else only
  // swaps the data.
  function draw(key, seriesIn, seriesOut, dataIn, dataOut) {
    var c = state.charts;
    var empty = dataIn.length < 2 || dataIn[0].length === 0;
    ['chart-in', 'chart-out'].forEach(function (id) { $(id).classList.toggle('empty', empty); });
    if (empty) {
      destroyCharts();
      $('chart-in').textContent = 'No app has moved bytes yet.';
      $('chart-out').textContent = '';
      return;
    }
    if (c.key !== key || !c.in) {
      destroyCharts();
      $('chart-in').textContent = '';
      $('chart-out').textContent = '';
      var span = state.range === '15m' ? 60 : 3600;
      c.in = new uPlot(chartOpts(seriesIn, 200, span), dataIn, $('chart-in'));
      c.out = new uPlot(chartOpts(seriesOut, 200, span), dataOut, $('chart-out'));
      c.key = key;
    } else {
      c.in.setData(dataIn);
      c.out.setData(dataOut);
    }
  }

  function destroyCharts() {
    var c = state.charts;
    if (c.in) { c.in.destroy(); c.out.destroy(); }
    c.in = c.out = null;
    c.key = '';
  }

  function renderLegend(apps, peaks) {
    var ul = document.createDocumentFragment();
    apps.forEach(function (app) {
      var li = el('li');
      var sw = el('span', 'swatch');
      sw.style.background = state.colors.get(app);
      li.appendChild(sw);
      var name = el('span', 'name', label(app));
      name.title = label(app);
      li.appendChild(name);
      ul.appendChild(li);
    });
    if (peaks && apps.length) {
      var li = el('li', 'note', 'dashed: highest 1-second rate of each minute');
      ul.appendChild(li);
    }
    $('legend').replaceChildren(ul);
  }

  function renderLive() {
    var apps = topLive();
    assignColors(apps);
    var sIn = [], sOut = [];
    apps.forEach(function (app) {
      sIn.push(stepSeries(label(app), state.colors.get(app)));
      sOut.push(stepSeries(label(app), state.colors.get(app)));
    });
    draw('15m|' + (state.bits ? 'b|' : 'B|') + apps.join('\u0000'), sIn, sOut, align(apps, 'in'), align(apps, 'out'));
    renderLegend(apps, false);
  }

  // --- 24-hour view ---

  function loadDay() {
    if (!state.snap) return;
    var byTotal = state.snap.apps.filter(function (a) { return a.app !== OTHER; }).sort(function (x, y) {
      return (y.bytes_in + y.bytes_out) - (x.bytes_in + x.bytes_out);
    });
    var apps = byTotal.slice(0, TOP).map(function (a) { return a.app; }).sort();
    // "(other)" is drawn besides, and only when the agent kept a history
    // of it: an app with none gets no line.
    if (state.snap.apps.some(function (a) { return a.app === OTHER; })) apps.push(OTHER);
    Promise.all(apps.map(function (app) {
      return api('/api/v1/history?since=24h&app=' + encodeURIComponent(app)).catch(function () { return null; });
    })).then(function (hs) {
      var got = [];
      hs.forEach(function (h) { if (h && h.points.length) got.push(h); });
      state.day = got;
      if (state.range === '24h') renderDay();
    });
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
      var name = label(h.app);
      sIn.push(stepSeries(name, c)); sIn.push(stepSeries(name + ' (peak)', c, [4, 3]));
      sOut.push(stepSeries(name, c)); sOut.push(stepSeries(name + ' (peak)', c, [4, 3]));
    });
    draw('24h|' + (state.bits ? 'b|' : 'B|') + apps.join('\u0000'), sIn, sOut, dIn, dOut);
    renderLegend(apps, true);
  }

  function setRange(r) {
    state.range = r;
    $('range-15m').setAttribute('aria-pressed', String(r === '15m'));
    $('range-24h').setAttribute('aria-pressed', String(r === '24h'));
    $('graph-title').textContent = r === '15m' ? 'Top apps, last 15 minutes' : 'Top apps by volume, last 24 hours';
    $('graph-note').textContent = r === '15m'
      ? 'Each step is the average rate over one tick.'
      : 'Each step is the average rate over one minute; the dashed line is its highest 1-second rate.';
    destroyCharts();
    if (r === '15m') renderLive(); else { renderDay(); loadDay(); }
  }
  $('range-15m').addEventListener('click', function () { setRange('15m'); });
  $('range-24h').addEventListener('click', function () { setRange('24h'); });
  setInterval(function () { if (state.range === '24h') loadDay(); }, 60000);

  // --- units and size ---

  function setUnits(bits) {
    state.bits = bits;
    sessionStorage.setItem('bwmon.unit', bits ? 'bits' : 'bytes');
    $('unit-bytes').setAttribute('aria-pressed', String(!bits));
    $('unit-bits').setAttribute('aria-pressed', String(bits));
    renderTable();
    renderForwarded();
    if (state.range === '15m') renderLive(); else renderDay();
  }
  $('unit-bytes').addEventListener('click', function () { setUnits(false); });
  $('unit-bits').addEventListener('click', function () { setUnits(true); });

  window.addEventListener('resize', function () {
    var c = state.charts, w = $('chart-in').clientWidth;
    if (c.in) { c.in.setSize({ width: w, height: 200 }); c.out.setSize({ width: w, height: 200 }); }
  });

  // For tests and the curious: the charts' point counts.
  window.bwmon = {
    points: function () { return state.charts.in ? state.charts.in.data[0].length : 0; },
    state: state,
  };

  setUnits(state.bits);
  connect();
})();
