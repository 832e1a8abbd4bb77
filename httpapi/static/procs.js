// bwmon's page: the focused app's bytes by destination class (from the
// tick) and its processes, from GET /api/v1/processes, in a row under the
// app's row in the table. The processes are refreshed every few seconds
// while it is open and the tab is visible (the agent walks its live
// entries to answer, so not on every tick); the classes every tick.
(function () {
  'use strict';

  var B = window.bwmon, state = B.state, el = B.el, setText = B.setText;
  var P = B.procs = {};

  var REFRESH_MS = 2000; // at most this often, and at most once a tick
  var SHOWN = 10;        // processes listed before "show all"

  var d = {
    app: null,
    data: null,      // the latest answer: {app, time, processes}
    note: '',        // why there is no list
    showAll: false,
    inflight: false,
    last: 0,         // ms, when the latest request was sent
    seq: 0,          // answers to an older open are dropped
    cache: new Map(),
  };

  // The row is built once and moved by the table under the focused app.
  var tr = el('tr', 'detail');
  var td = el('td');
  td.colSpan = 6;
  var panel = el('div', 'procs-panel');
  var head = el('div', 'procs-head');
  var title = el('strong');
  var count = el('span', 'note');
  head.append(title, count);
  var list = el('div', 'proc-list');
  var msg = el('p', 'note');
  var more = el('button', 'more');
  more.type = 'button';
  more.addEventListener('click', function (ev) {
    ev.stopPropagation();
    d.showAll = !d.showAll;
    render();
  });
  // The split by destination class: a line per class, the largest first.
  var classes = el('div', 'class-split');
  var classHead = el('div', 'procs-head');
  classHead.append(el('strong', null, 'By destination'),
    el('span', 'note', 'bytes by the class of the remote end ([[class]] in the configuration)'));
  var classList = el('div', 'class-list');
  classes.append(classHead, classList);
  classes.hidden = true;
  var classCache = new Map();
  panel.append(classes, head, msg, list, more);
  td.appendChild(panel);
  tr.appendChild(td);
  tr.addEventListener('click', function (ev) { ev.stopPropagation(); });

  P.row = function () { return tr; };

  // open shows app's processes (null: none), asking the agent at once.
  P.open = function (app) {
    d.app = app;
    d.data = null;
    d.note = app ? 'Asking the agent…' : '';
    d.showAll = false;
    d.seq++;
    d.inflight = false;
    d.cache.clear();
    list.replaceChildren();
    classCache.clear();
    classList.replaceChildren();
    renderClasses();
    if (app) load();
  };

  function makeClass(c) {
    var r = { node: el('div', 'class-row') };
    r.node.dataset.class = c.name;
    r.name = el('span', 'cname', c.name);
    r.bar = el('span', 'cbar');
    r.fill = el('span', 'cfill');
    r.bar.appendChild(r.fill);
    r.bytes = el('span', 'cbytes');
    r.rate = el('span', 'prate');
    r.node.append(r.name, r.bar, r.bytes, r.rate);
    return r;
  }

  function updateClass(r, c) {
    setText(r.bytes, 'in ' + B.fmtBytes(c.bytes_in) + ' · out ' + B.fmtBytes(c.bytes_out) +
      ' · ' + (c.share * 100).toFixed(1) + ' %');
    setText(r.rate, 'now in ' + B.fmtRate(c.rate_in) + ' · out ' + B.fmtRate(c.rate_out));
    r.fill.style.width = (c.share * 100).toFixed(1) + '%';
    r.node.classList.toggle('idle', !(c.rate_in > 0 || c.rate_out > 0));
  }

  // renderClasses shows the focused app's classes of the latest tick.
  function renderClasses() {
    var snap = state.snap, app = d.app;
    var a = app && snap && snap.apps.find(function (x) { return x.app === app; });
    var cs = [];
    if (a && a.classes) {
      var sum = 0;
      Object.keys(a.classes).forEach(function (name) {
        var c = a.classes[name];
        sum += c.bytes_in + c.bytes_out;
        cs.push({ name: name, bytes_in: c.bytes_in, bytes_out: c.bytes_out, rate_in: c.rate_in, rate_out: c.rate_out });
      });
      cs.forEach(function (c) { c.share = sum > 0 ? (c.bytes_in + c.bytes_out) / sum : 0; });
      cs.sort(function (x, y) {
        return (y.bytes_in + y.bytes_out) - (x.bytes_in + x.bytes_out) || (x.name < y.name ? -1 : 1);
      });
    }
    classes.hidden = !cs.length;
    B.sync(classList, classCache, cs, function (c) { return c.name; }, makeClass, updateClass);
  }

  // tick refreshes the classes, and the list when it is due.
  P.tick = function () {
    renderClasses();
    if (!d.app || d.inflight || document.hidden) return;
    var iv = state.snap ? state.snap.interval_s * 1000 : 1000;
    if (Date.now() - d.last >= Math.max(REFRESH_MS, iv) - 50) load();
  };

  function load() {
    var seq = d.seq, app = d.app;
    d.inflight = true;
    d.last = Date.now();
    B.request('/api/v1/processes?' + B.query({ app: app })).then(function (r) {
      if (seq !== d.seq) return;
      d.inflight = false;
      if (r.status === 200 && r.body) {
        d.data = r.body;
        d.note = '';
      } else if (r.status === 404) {
        d.data = null;
        d.note = r.body && /does not list/.test(r.body.error || '')
          ? 'This agent does not list processes.'
          : 'The agent no longer lists ' + B.label(app) + ': its processes are gone.';
      } else {
        d.note = 'The agent did not answer (HTTP ' + r.status + ').';
      }
      render();
    }, function (err) {
      if (seq !== d.seq) return;
      d.inflight = false;
      if (err instanceof B.AuthError) return; // the next connect asks for the token
      d.note = 'The agent did not answer.';
      render();
    });
    render();
  }

  function makeProc(p) {
    var r = { node: el('div', 'proc') };
    r.node.dataset.pid = String(p.pid);
    r.pid = el('span', 'pid', String(p.pid));
    r.cmd = el('span', 'cmd');
    r.rate = el('span', 'prate');
    r.meta = el('span', 'pmeta');
    r.node.append(r.pid, r.cmd, r.rate, r.meta);
    return r;
  }

  function updateProc(r, p) {
    r.node.classList.toggle('idle', !(p.rate_in > 0 || p.rate_out > 0));
    setText(r.rate, 'in ' + B.fmtRate(p.rate_in) + ' · out ' + B.fmtRate(p.rate_out));
    var cmd = p.cmdline || '[' + p.name + ']';
    setText(r.cmd, cmd);
    B.setAttr(r.cmd, 'title', cmd);
    var meta = [p.name];
    var user = p.user || {};
    meta.push('user ' + (user.name || user.uid));
    if (p.unit) meta.push('unit ' + p.unit);
    if (p.container) meta.push('container ' + p.container);
    if (p.netns) meta.push('netns ' + p.netns);
    meta.push('total ' + B.fmtBytes(p.bytes_in) + ' in, ' + B.fmtBytes(p.bytes_out) + ' out');
    setText(r.meta, meta.join(' · '));
  }

  function render() {
    if (!d.app) return;
    var name = B.label(d.app);
    setText(title, d.app === B.OTHER ? 'Processes of the apps folded into ' + B.OTHER : 'Processes of ' + name);
    var ps = d.data ? d.data.processes : [];
    setText(count, ps.length ? ps.length + (ps.length === 1 ? ' live process' : ' live processes, busiest first') : '');
    var note = d.note;
    if (d.data && !ps.length) note = 'No live process: ' + name + '\'s processes have exited (their bytes stay in its totals).';
    setText(msg, note);
    msg.hidden = !note;
    var shown = d.showAll ? ps : ps.slice(0, SHOWN);
    B.sync(list, d.cache, shown, function (p) { return p.pid; }, makeProc, updateProc);
    more.hidden = ps.length <= SHOWN;
    setText(more, d.showAll ? 'Show the busiest ' + SHOWN : 'Show all ' + ps.length);
  }

  P.render = function () { render(); renderClasses(); }; // units changed
})();
