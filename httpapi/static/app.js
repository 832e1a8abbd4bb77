// bwmon's page, its start and its connection to the agent: GET
// /api/v1/apps to check the agent answers (and the token), one GET
// /api/v1/histories and one GET /api/v1/interfaces for what the page
// missed, then the WebSocket /api/v1/live, reconnected with a backoff. It
// hands every tick to the table (table.js), the graphs (graph.js), the
// interface graph (links.js) and the process list (procs.js), and asks for
// the usage (usage.js) now and then.
(function () {
  'use strict';

  var B = window.bwmon, state = B.state, $ = B.$;

  var BACKOFF_S = [1, 2, 4, 8, 15, 30];
  var STATS_EVERY_MS = 60000; // how often the limits are asked for again
  var USAGE_EVERY_MS = 60000; // and the usage per day

  state.ws = null;
  state.attempt = 0;
  state.retryAt = 0;
  state.retryTimer = 0;
  state.stats = null; // GET /api/v1/stats: the agent's limits
  state.full = 0;     // the agent's cap when it refused our WebSocket, else 0

  // connect checks the agent answers (and the token), loads the history,
  // then opens the WebSocket.
  function connect() {
    clearTimeout(state.retryTimer);
    state.retryTimer = 0;
    setStatus('connecting…', '');
    B.api('/api/v1/apps').then(function (snap) {
      $('token-form').hidden = true;
      if (snap) onSnapshot(snap);
      loadStats();
      B.usage.load();
      return Promise.all([B.graph.backfill(), B.links.backfill()]);
    }).then(openSocket, function (err) {
      if (err instanceof B.AuthError) { askToken(); return; }
      unreachable();
    });
  }

  function openSocket() {
    var protocols = ['bwmon'];
    if (state.token) protocols.push('bearer.' + B.b64url(state.token));
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
    B.setText(s, text);
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
    return B.api('/api/v1/stats').then(function (st) {
      if (st) { state.stats = st; B.table.renderBounds(); }
      return st;
    }, function () { return null; });
  }
  setInterval(function () { if (state.ws) loadStats(); }, STATS_EVERY_MS);
  setInterval(function () { if (state.ws && !document.hidden) B.usage.load(); }, USAGE_EVERY_MS);

  function onSnapshot(snap) {
    state.snap = snap;
    state.lastTick = Date.now();
    if (state.ws) setStatus(statusText(), 'live');
    B.graph.onSnapshot(snap); // first: it picks the colours the table shows
    B.links.onSnapshot(snap);
    B.table.render();
    B.table.renderForwarded();
    B.procs.tick();
  }

  // --- focus: one app in the graphs, its processes under its row ---

  B.setFocus = function (app) {
    if (app === state.focus) return;
    state.focus = app;
    history.replaceState(null, '', app ? '#app=' + encodeURIComponent(app) : location.pathname + location.search);
    B.procs.open(app);
    B.graph.focusChanged();
    B.table.render();
  };

  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && state.focus && ev.target.id !== 'filter') B.setFocus(null);
  });

  // A link to the page may name the app to focus: /#app=NAME.
  function focusFromHash() {
    var m = /^#app=(.+)$/.exec(location.hash);
    var app = null;
    if (m) { try { app = decodeURIComponent(m[1]); } catch (e) { app = null; } }
    if (app !== state.focus) B.setFocus(app);
  }
  window.addEventListener('hashchange', focusFromHash);

  // --- units and size ---

  function setUnits(bits) {
    state.bits = bits;
    sessionStorage.setItem('bwmon.unit', bits ? 'bits' : 'bytes');
    $('unit-bytes').setAttribute('aria-pressed', String(!bits));
    $('unit-bits').setAttribute('aria-pressed', String(bits));
    B.table.render();
    B.table.renderForwarded();
    B.procs.render();
    B.graph.render();
    B.links.render();
  }
  $('unit-bytes').addEventListener('click', function () { setUnits(false); });
  $('unit-bits').addEventListener('click', function () { setUnits(true); });

  var resizing = 0;
  window.addEventListener('resize', function () {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(function () {
      B.graph.resize();
      B.links.resize();
      B.table.render();
      if (state.usage.data) B.usage.render();
    });
  });

  setUnits(state.bits);
  focusFromHash();
  connect();
})();
