// bwmon's page: the usage per day or per month, from GET /api/v1/usage
// (the agent's state store), as bars of bytes in and out, and the apps of
// the period picked. Drawn with plain elements: no chart library needed.
(function () {
  'use strict';

  var B = window.bwmon, state = B.state, $ = B.$, el = B.el, setText = B.setText;
  var U = B.usage = {};

  var DAYS = 31; // days drawn; the store keeps 90

  state.usage = {
    period: 'day',
    data: null,     // the latest answer (a Usage)
    status: 0,      // its HTTP status; 404: the agent keeps no state
    selected: null, // start of the period picked, null: the latest
  };
  var u = state.usage;
  var cols = new Map(), apps = new Map();

  U.load = function () {
    var q = u.period === 'day' ? { period: 'day', since: DAYS + 'd' } : { period: 'month' };
    var period = u.period;
    return B.request('/api/v1/usage?' + B.query(q)).then(function (r) {
      if (period !== u.period) return;
      u.status = r.status;
      u.data = r.status === 200 ? r.body : null;
      render();
    }, function (err) {
      if (err instanceof B.AuthError) return;
      u.status = -1;
      render();
    });
  };

  function setPeriod(p) {
    if (u.period === p) return;
    u.period = p;
    u.selected = null;
    $('usage-day').setAttribute('aria-pressed', String(p === 'day'));
    $('usage-month').setAttribute('aria-pressed', String(p === 'month'));
    setText($('usage-title'), p === 'day' ? 'Usage per day' : 'Usage per month');
    u.data = null;
    render();
    U.load();
  }
  $('usage-day').addEventListener('click', function () { setPeriod('day'); });
  $('usage-month').addEventListener('click', function () { setPeriod('month'); });

  // periods returns the answer's periods with the days (or months) between
  // them that have no record (the agent did not run) filled with nothing.
  function periods(data) {
    var ps = data.periods || [];
    if (!ps.length) return [];
    var at = new Map();
    ps.forEach(function (p) { at.set(p.start, p); });
    var out = [], key = ps[0].start, last = ps[ps.length - 1].start;
    for (var guard = 0; guard < 400 && key <= last; guard++) {
      out.push(at.get(key) || { start: key, apps: [], bytes_in: 0, bytes_out: 0, empty: true });
      key = next(key);
    }
    return out;
  }

  function parts(key) { return key.split('-').map(Number); }

  function next(key) {
    var p = parts(key);
    if (p.length === 3) {
      var d = new Date(Date.UTC(p[0], p[1] - 1, p[2] + 1));
      return d.toISOString().slice(0, 10);
    }
    return p[1] === 12 ? (p[0] + 1) + '-01' : p[0] + '-' + String(p[1] + 1).padStart(2, '0');
  }

  function dateOf(key) {
    var p = parts(key);
    return new Date(p[0], p[1] - 1, p.length === 3 ? p[2] : 1);
  }

  function short(key) {
    var d = dateOf(key);
    return key.length === 10 ? d.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })
      : d.toLocaleDateString(undefined, { month: 'short', year: '2-digit' });
  }

  function long(key) {
    var d = dateOf(key);
    return key.length === 10
      ? d.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'long', year: 'numeric' })
      : d.toLocaleDateString(undefined, { month: 'long', year: 'numeric' });
  }

  // niceMax is a round number of bytes at least max, for the scale.
  function niceMax(max) {
    if (!(max > 0)) return 1;
    var unit = Math.pow(1024, Math.floor(Math.log(max) / Math.log(1024)));
    var v = max / unit, e = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 1.5, 2, 3, 4, 5, 6, 8, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * e >= v) return steps[i] * e * unit;
    return 10 * e * unit;
  }

  // round is fmtBytes without trailing zeros: "1.5 GiB", "2 GiB".
  function round(b) { return B.fmtBytes(b).replace(/(\.\d*?)0+ /, '$1 ').replace('. ', ' '); }

  function makeCol(p) {
    var c = { node: el('button', 'col') };
    c.node.type = 'button';
    c.node.dataset.start = p.start;
    var stack = el('span', 'stack');
    c.out = el('span', 'seg-out');
    c.in = el('span', 'seg-in');
    stack.append(c.out, c.in);
    c.lbl = el('span', 'lbl');
    c.node.append(stack, c.lbl);
    c.node.addEventListener('click', function () { u.selected = p.start; render(); });
    return c;
  }

  function render() {
    var card = $('usage-card');
    var note = $('usage-note'), plot = $('usage-plot'), detail = $('usage-detail');
    card.hidden = false;
    if (!u.data) {
      plot.hidden = detail.hidden = true;
      setText(note, u.status === 404
        ? 'This agent keeps no state, so it has no usage per day or month: it runs with [state] dir = "", ' +
          'or beside a bwmon that holds its state directory (bwmon report reads that one\'s).'
        : u.status === 0 ? 'Asking the agent…' : 'The agent did not give its usage (' + (u.status > 0 ? 'HTTP ' + u.status : 'no answer') + ').');
      return;
    }
    var ps = periods(u.data);
    var since = new Date(Date.parse(u.data.since));
    var t = u.data.total || {};
    setText(note, (u.period === 'day' ? 'Bytes per day, the last ' + DAYS + ' days' : 'Bytes per month') +
      ' (the agent\'s local time), from its state store. In all since ' +
      since.toLocaleDateString(undefined, { dateStyle: 'medium' }) + ': ' +
      B.fmtBytes(t.bytes_in || 0) + ' in, ' + B.fmtBytes(t.bytes_out || 0) + ' out.');
    plot.hidden = detail.hidden = !ps.length;
    if (!ps.length) {
      setText(note, note.textContent + ' Nothing is recorded yet.');
      return;
    }
    if (!ps.some(function (p) { return p.start === u.selected; })) u.selected = null;
    var sel = u.selected || ps[ps.length - 1].start;

    var max = niceMax(Math.max.apply(null, ps.map(function (p) { return p.bytes_in + p.bytes_out; })));
    setText($('usage-max'), round(max));
    setText($('usage-half'), round(max / 2));
    var width = $('usage-cols').clientWidth || 600;
    var step = Math.max(1, Math.ceil((u.period === 'day' ? 48 : 56) / (width / ps.length)));
    B.sync($('usage-cols'), cols, ps, function (p) { return p.start; }, makeCol, function (c, p) {
      var i = ps.indexOf(p);
      c.in.style.height = (100 * p.bytes_in / max) + '%';
      c.out.style.height = (100 * p.bytes_out / max) + '%';
      setText(c.lbl, (ps.length - 1 - i) % step === 0 ? short(p.start) : '');
      B.setAttr(c.node, 'aria-pressed', String(p.start === sel));
      B.setAttr(c.node, 'title', long(p.start) + ': ' + (p.empty ? 'no record' :
        B.fmtBytes(p.bytes_in) + ' in, ' + B.fmtBytes(p.bytes_out) + ' out'));
      B.setAttr(c.node, 'aria-label', c.node.title);
    });
    renderDetail(ps.find(function (p) { return p.start === sel; }), sel === ps[ps.length - 1].start);
  }

  function makeApp(a) {
    var r = { node: el('li') };
    r.name = el('span', 'name', B.label(a.app));
    r.name.title = a.app;
    var bar = el('span', 'bar');
    r.in = el('span', 'seg-in');
    r.out = el('span', 'seg-out');
    bar.append(r.in, r.out);
    r.vals = el('span', 'vals');
    r.node.append(r.name, bar, r.vals);
    return r;
  }

  function renderDetail(p, latest) {
    var head = long(p.start) + (latest ? (u.period === 'day' ? ' (today, so far)' : ' (this month, so far)') : '');
    setText($('usage-when'), head);
    var sum = B.fmtBytes(p.bytes_in) + ' in, ' + B.fmtBytes(p.bytes_out) + ' out';
    var un = p.unattributed || {}, fw = p.forwarded || {};
    if (un.bytes_in + un.bytes_out > 0) sum += ' · unattributed ' + B.fmtBytes(un.bytes_in + un.bytes_out);
    if (fw.bytes_in + fw.bytes_out > 0) sum += ' · forwarded ' + B.fmtBytes(fw.bytes_in + fw.bytes_out);
    setText($('usage-sum'), p.empty ? 'No record: the agent did not run.' : sum);
    var list = p.apps || [];
    var top = Math.max.apply(null, [1].concat(list.map(function (a) { return a.bytes_in + a.bytes_out; })));
    B.sync($('usage-apps'), apps, list, function (a) { return a.app; }, makeApp, function (r, a) {
      setText(r.name, a.app === B.OTHER && a.folded ? '(other: ' + a.folded + ' apps)' : B.label(a.app));
      r.in.style.width = (100 * a.bytes_in / top) + '%';
      r.out.style.width = (100 * a.bytes_out / top) + '%';
      setText(r.vals, B.fmtBytes(a.bytes_in) + ' in · ' + B.fmtBytes(a.bytes_out) + ' out');
    });
  }

  U.render = render;
})();
