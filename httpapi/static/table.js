// bwmon's page: the table of apps (updated in place on every tick, sorted
// by a column, filtered by name, a row opening the app's processes), the
// unattributed bytes, the line on the agent's bounds, and the forwarded
// hosts.
(function () {
  'use strict';

  var B = window.bwmon, state = B.state, $ = B.$, el = B.el, setText = B.setText, OTHER = B.OTHER;
  var T = B.table = {};

  var sort = { key: null, dir: -1 }; // key null: the agent's order, busiest first
  var rows = new Map();              // app -> {node, name, dot, where, sub, cells…}

  // processes is how many processes an app has; the agent lists a bounded
  // number of their PIDs.
  function processes(a) { return Math.max(a.processes || 0, (a.pids || []).length); }

  var columns = {
    app: function (a) { return a.app; },
    rate_in: function (a) { return a.rate_in; },
    rate_out: function (a) { return a.rate_out; },
    bytes_in: function (a) { return a.bytes_in; },
    bytes_out: function (a) { return a.bytes_out; },
    procs: processes,
  };

  document.querySelectorAll('#apps th').forEach(function (th) {
    th.querySelector('button').addEventListener('click', function () {
      var key = th.dataset.key;
      if (sort.key === key) sort.dir = -sort.dir;
      else sort = { key: key, dir: key === 'app' ? 1 : -1 };
      T.render();
    });
  });

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

  function matches(a) {
    if (!state.filter) return true;
    return B.label(a.app).toLowerCase().indexOf(state.filter) >= 0 ||
      whereOf(a).toLowerCase().indexOf(state.filter) >= 0;
  }

  function makeRow(a) {
    var r = { node: el('tr', 'row') };
    r.node.dataset.app = a.app;
    r.node.tabIndex = 0;
    r.node.setAttribute('aria-expanded', 'false');
    var name = r.nameCell = el('td', 'text app' + (a.app === OTHER ? ' other' : ''));
    r.dot = el('span', 'dot');
    r.dot.hidden = true;
    r.name = el('span', 'name');
    r.where = el('span', 'where');
    r.sub = el('span', 'sub'); // the totals, on a phone, where their columns are hidden
    name.append(r.dot, r.name, r.where, r.sub);
    r.rateIn = el('td', 'rate-in');
    r.rateOut = el('td', 'rate-out');
    r.bytesIn = el('td', 'bytes-in');
    r.bytesOut = el('td', 'bytes-out');
    r.procs = el('td', 'procs');
    r.procsN = el('span', 'n');
    r.pids = el('span', 'pids');
    r.procs.append(r.procsN, r.pids);
    r.node.append(name, r.rateIn, r.rateOut, r.bytesIn, r.bytesOut, r.procs);
    return r;
  }

  function updateRow(r, a) {
    var tr = r.node;
    tr.classList.toggle('idle', !(a.rate_in > 0 || a.rate_out > 0));
    tr.classList.toggle('focused', state.focus === a.app);
    B.setAttr(tr, 'aria-expanded', String(state.focus === a.app));
    tr.hidden = !matches(a);
    var label = B.label(a.app);
    setText(r.name, label);
    var color = B.graph.color(a.app) || '';
    if (r.dot.dataset.color !== color) {
      r.dot.dataset.color = color;
      r.dot.style.background = color;
      r.dot.hidden = !color;
    }
    var where = whereOf(a);
    setText(r.where, where);
    r.where.hidden = !where;
    var title = a.app === OTHER
      ? 'The apps beyond the agent\'s limits, folded into one row: ' + (a.folded || 0) + ' since it started'
      : a.app;
    B.setAttr(r.nameCell, 'title', title + (where ? '\n' + where : '') + '\nClick for its processes and graph');
    setText(r.rateIn, B.fmtRate(a.rate_in));
    setText(r.rateOut, B.fmtRate(a.rate_out));
    setText(r.bytesIn, B.fmtBytes(a.bytes_in));
    setText(r.bytesOut, B.fmtBytes(a.bytes_out));
    var pids = a.pids || [], n = processes(a);
    setText(r.sub, 'total ' + B.fmtBytes(a.bytes_in) + ' in · ' + B.fmtBytes(a.bytes_out) + ' out' +
      (n ? ' · ' + n + (n === 1 ? ' process' : ' processes') : ''));
    setText(r.procsN, String(n));
    setText(r.pids, pids.slice(0, 2).join(' ') + (pids.length > 2 ? ' …' : ''));
    B.setAttr(r.procs, 'title', pids.length
      ? 'PIDs ' + pids.join(', ') + (n > pids.length ? ' (' + pids.length + ' of ' + n + ')' : '') : '');
  }

  // render brings the table to the latest tick: rows are kept per app and
  // only their changed texts touched; a row moves only when the order
  // changes. The focused app's row is followed by its processes.
  T.render = function () {
    var snap = state.snap;
    if (!snap) return;
    var apps = snap.apps.slice();
    var key = sort.key;
    if (key) {
      var f = columns[key], dir = sort.dir;
      apps.sort(function (x, y) {
        var a = f(x), b = f(y);
        var c = typeof a === 'string' ? a.localeCompare(b) : a - b;
        return c !== 0 ? dir * c : x.app.localeCompare(y.app);
      });
    }
    document.querySelectorAll('#apps th').forEach(function (th) {
      if (th.dataset.key === key) B.setAttr(th, 'aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
      else th.removeAttribute('aria-sort');
    });
    B.sync($('rows'), rows, apps, function (a) { return a.app; }, makeRow, updateRow, function (a, r) {
      if (a.app !== state.focus) return null;
      var d = B.procs.row();
      d.hidden = r.node.hidden;
      // It spans the columns shown: a phone hides some, and a hidden
      // column it spanned would still take room.
      var n = 0;
      document.querySelectorAll('#apps thead th').forEach(function (th) { if (th.getClientRects().length) n++; });
      if (d.firstChild.colSpan !== n) d.firstChild.colSpan = n;
      return d;
    });
    renderUnattributed(snap.unattributed);

    var named = snap.apps.filter(function (a) { return a.app !== OTHER; });
    var shown = state.filter ? apps.filter(matches).length : apps.length;
    var active = named.filter(function (a) { return a.rate_in > 0 || a.rate_out > 0; }).length;
    setText($('summary'), state.filter
      ? shown + ' of ' + apps.length + ' match'
      : named.length + (named.length === 1 ? ' app, ' : ' apps, ') + active + ' active');
    $('no-match').hidden = !(state.filter && shown === 0);
    renderSince(snap);
    T.renderBounds();
  };

  // renderSince says since when the totals run: the agent's state store
  // began then, or the agent started then when it keeps none.
  function renderSince(snap) {
    var since = Date.parse(snap.since);
    if (!(since > Date.UTC(2000, 0, 1))) { setText($('since'), ''); return; }
    var d = new Date(since);
    var text = 'Totals since ' + d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' }) +
      ' (' + B.fmtAge(Math.max(0, Date.parse(snap.time) - since)) + ')';
    setText($('since'), text);
    document.querySelectorAll('#apps th[data-key^="bytes_"]').forEach(function (th) {
      B.setAttr(th, 'title', text);
    });
  }

  var unatt = null; // the footer row, built once

  function renderUnattributed(u) {
    if (!unatt) {
      var tr = el('tr', 'row');
      var name = el('td', 'text app', '(unattributed)');
      name.title = 'Bytes seen but not tied to a process, by reason';
      unatt = { node: tr, reasons: el('span', 'reasons'), cells: [] };
      name.appendChild(unatt.reasons);
      tr.appendChild(name);
      for (var i = 0; i < 5; i++) { var td = el('td'); unatt.cells.push(td); tr.appendChild(td); }
      $('unattributed').appendChild(tr);
    }
    unatt.node.hidden = !(u && u.bytes_in + u.bytes_out > 0);
    if (unatt.node.hidden) return;
    var reasons = Object.keys(u.reasons || {}).sort().map(function (r) {
      var s = u.reasons[r];
      return r + ' ' + B.fmtBytes(s.bytes_in + s.bytes_out);
    });
    setText(unatt.reasons, reasons.join(' · '));
    setText(unatt.cells[0], B.fmtRate(u.rate_in));
    setText(unatt.cells[1], B.fmtRate(u.rate_out));
    setText(unatt.cells[2], B.fmtBytes(u.bytes_in));
    setText(unatt.cells[3], B.fmtBytes(u.bytes_out));
  }

  // renderBounds says, under the table, what the agent lists by name and
  // how many apps it folded into the "(other)" row.
  T.renderBounds = function () {
    var st = state.stats, lim = st && st.limits;
    if (!lim) { setText($('bounds'), ''); return; }
    var other = state.snap && state.snap.apps.find(function (a) { return a.app === OTHER; });
    var folded = other && other.folded ? other.folded : st.folded_apps;
    var text = 'Listing at most ' + lim.apps + ' apps by name: those active in the last ' +
      fmtSpan(lim.active_window_s) + ' and the ' + lim.top_apps + ' largest';
    text += folded ? '; ' + folded + ' folded into ' + OTHER + '.' : '.';
    text += countText(st.monitors || {});
    setText($('bounds'), text);
  };

  // countText says where the monitors count the bytes of local sockets:
  // at the socket (and what the kernel's programs could not follow), or
  // with conntrack alone and why.
  function countText(monitors) {
    var out = '';
    Object.keys(monitors).sort().forEach(function (name) {
      var m = monitors[name];
      if (m.count_mode === 'socket') {
        out += ' ' + name + ': counting at the socket';
        var lost = [];
        if (m.sockets_map_full) lost.push(m.sockets_map_full + ' sockets found the map full (left to conntrack)');
        if (m.sockets_ring_lost) lost.push(m.sockets_ring_lost + ' close records read late');
        out += lost.length ? ' (' + lost.join(', ') + ').' : '.';
      } else if (m.count_mode === 'conntrack') {
        out += ' ' + name + ': counting with conntrack alone' + (m.count_fallback ? ' (' + m.count_fallback + ').' : '.');
      }
    });
    return out;
  }

  function fmtSpan(s) {
    if (s % 3600 === 0) return s / 3600 + ' h';
    if (s % 60 === 0) return s / 60 + ' min';
    return s + ' s';
  }

  // A row opens its app: click, Enter or Space.
  $('rows').addEventListener('click', function (ev) {
    var tr = ev.target.closest('tr.row');
    if (!tr || window.getSelection().toString()) return; // selecting text is not a click
    B.setFocus(state.focus === tr.dataset.app ? null : tr.dataset.app);
  });
  $('rows').addEventListener('keydown', function (ev) {
    var tr = ev.target;
    if (!tr.matches || !tr.matches('tr.row') || (ev.key !== 'Enter' && ev.key !== ' ')) return;
    ev.preventDefault();
    B.setFocus(state.focus === tr.dataset.app ? null : tr.dataset.app);
  });

  // The filter hides the rows whose name (or where they run) does not hold
  // what is typed; "/" goes to it, Escape empties it.
  $('filter').addEventListener('input', function () {
    state.filter = $('filter').value.trim().toLowerCase();
    T.render();
  });
  $('filter').addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && $('filter').value) {
      $('filter').value = '';
      state.filter = '';
      T.render();
      ev.stopPropagation();
    }
  });
  document.addEventListener('keydown', function (ev) {
    var t = ev.target;
    if (ev.key !== '/' || ev.ctrlKey || ev.metaKey || ev.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
    ev.preventDefault();
    $('filter').focus();
  });

  // --- forwarded hosts ---

  var MAX_FORWARDED = 100; // rows drawn; the agent lists up to about 1024
  var fwdRows = new Map();

  function makeFwd(h) {
    var r = { node: el('tr') };
    r.node.dataset.inside = h.inside;
    r.node.dataset.remote = h.remote;
    r.inside = el('td', 'text host inside', h.inside);
    r.inside.title = h.inside;
    r.remote = el('td', 'text host remote', h.remote === '*' ? '* (others, folded)' : h.remote);
    r.remote.title = h.remote === '*' ? 'Every other remote host: the agent lists a bounded number of pairs' : h.remote;
    r.rateIn = el('td', 'rate-in');
    r.rateOut = el('td', 'rate-out');
    r.bytesIn = el('td', 'bytes-in');
    r.bytesOut = el('td', 'bytes-out');
    r.node.append(r.inside, r.remote, r.rateIn, r.rateOut, r.bytesIn, r.bytesOut);
    return r;
  }

  function updateFwd(r, h) {
    r.node.classList.toggle('idle', !(h.rate_in > 0 || h.rate_out > 0));
    setText(r.rateIn, B.fmtRate(h.rate_in));
    setText(r.rateOut, B.fmtRate(h.rate_out));
    setText(r.bytesIn, B.fmtBytes(h.bytes_in));
    setText(r.bytesOut, B.fmtBytes(h.bytes_out));
  }

  // renderForwarded shows the pairs of hosts the host routed, busiest
  // first, and nothing at all on a host that routes nothing.
  T.renderForwarded = function () {
    var f = state.snap && state.snap.forwarded;
    var hosts = (f && f.hosts) || [];
    $('forwarded-card').hidden = hosts.length === 0;
    B.sync($('forwarded-rows'), fwdRows, hosts.slice(0, MAX_FORWARDED),
      function (h) { return h.inside + '\u0000' + h.remote; }, makeFwd, updateFwd);
    if (!hosts.length) return;
    setText($('forwarded-more'), hosts.length > MAX_FORWARDED
      ? 'The busiest ' + MAX_FORWARDED + ' of ' + hosts.length + ' pairs are shown.' : '');
    setText($('forwarded-summary'), B.fmtRate(f.rate_in) + ' in, ' + B.fmtRate(f.rate_out) + ' out · ' +
      B.fmtBytes(f.bytes_in) + ' in, ' + B.fmtBytes(f.bytes_out) + ' out in all');
  };
})();
