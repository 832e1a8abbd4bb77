// bwmon's page, shared parts: the page's state, building and updating
// elements, units, and requests to the agent. The other scripts (table.js,
// graph.js, usage.js, app.js) add themselves to the same window.bwmon.
//
// Names (apps, command lines, users, containers) are untrusted strings: any
// local user chooses them. They only ever go into textContent, title or
// dataset, never into HTML.
(function () {
  'use strict';

  var B = window.bwmon = window.bwmon || {};

  B.OTHER = '(other)'; // the row the apps beyond the agent's limits are folded into

  B.state = {
    token: sessionStorage.getItem('bwmon.token') || '',
    bits: sessionStorage.getItem('bwmon.unit') === 'bits',
    snap: null,
    lastTick: 0,   // ms, local clock, of the latest message
    focus: null,   // the app the graphs and the process list are about, or null
    filter: '',    // the filter box, lower case
  };

  B.$ = function (id) { return document.getElementById(id); };

  B.el = function (tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  // setText changes a node's text only when it differs, so that an update
  // in place touches the DOM only where a value changed.
  B.setText = function (node, text) {
    if (node.textContent !== text) node.textContent = text;
  };

  B.setAttr = function (node, name, value) {
    if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  };

  // sync keeps one element per item in container, in the items' order,
  // updating them in place: cache maps an item's key to an entry {node,
  // ...} that make(item) builds once and update(entry, item) fills on every
  // call. An element whose key is gone is removed; the others are moved only
  // when their order changes. after(item, entry), if given, may return a
  // node to place right after the item's (a detail row).
  B.sync = function (container, cache, items, keyOf, make, update, after) {
    var cursor = container.firstChild, seen = new Set();
    function place(node) {
      if (node === cursor) cursor = cursor.nextSibling;
      else container.insertBefore(node, cursor);
    }
    items.forEach(function (it) {
      var k = keyOf(it);
      if (seen.has(k)) return;
      seen.add(k);
      var e = cache.get(k);
      if (!e) { e = make(it); cache.set(k, e); }
      update(e, it);
      place(e.node);
      var extra = after && after(it, e);
      if (extra) place(extra);
    });
    while (cursor) {
      var next = cursor.nextSibling;
      container.removeChild(cursor);
      cursor = next;
    }
    cache.forEach(function (_, k) { if (!seen.has(k)) cache.delete(k); });
  };

  // label is how the page names an app: its name, except for the row of
  // the apps folded beyond the agent's limits, which says how many.
  B.label = function (app) {
    if (app !== B.OTHER) return app;
    var snap = B.state.snap;
    var a = snap && snap.apps.find(function (x) { return x.app === B.OTHER; });
    return a && a.folded ? '(other: ' + a.folded + ' apps)' : app;
  };

  // --- units ---

  B.fmtBytes = function (n) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    var i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + u[i];
  };

  B.fmtRate = function (bps) {
    if (bps == null) return '–';
    if (!B.state.bits) return B.fmtBytes(bps) + '/s';
    var v = bps * 8;
    var u = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'];
    var i = 0;
    while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
    return (i === 0 ? v.toFixed(0) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + ' ' + u[i];
  };

  // fmtAge says how long ago a time was: "3 d 4 h", "25 min".
  B.fmtAge = function (ms) {
    var m = Math.floor(ms / 60000);
    if (m < 60) return m + ' min';
    var h = Math.floor(m / 60);
    if (h < 48) return h + ' h' + (m % 60 ? ' ' + (m % 60) + ' min' : '');
    var d = Math.floor(h / 24);
    return d + ' d' + (h % 24 ? ' ' + (h % 24) + ' h' : '');
  };

  // --- talking to the agent ---

  function AuthError() { this.message = 'unauthorized'; }
  B.AuthError = AuthError;

  // request fetches path with the token and resolves to {status, body}
  // (body: the JSON, or null); a 401 rejects with an AuthError.
  B.request = function (path) {
    var headers = {};
    if (B.state.token) headers.Authorization = 'Bearer ' + B.state.token;
    return fetch(path, { headers: headers, cache: 'no-store' }).then(function (r) {
      if (r.status === 401) throw new AuthError();
      return r.json().catch(function () { return null; }).then(function (body) {
        return { status: r.status, body: body };
      });
    });
  };

  // api resolves to path's JSON, or to null on 503 (no tick yet); other
  // errors reject.
  B.api = function (path) {
    return B.request(path).then(function (r) {
      if (r.status === 503) return null;
      if (r.status < 200 || r.status > 299) {
        throw new Error(path + ': HTTP ' + r.status + (r.body && r.body.error ? ': ' + r.body.error : ''));
      }
      return r.body;
    });
  };

  // query makes the query string of params, an object of strings or
  // arrays of strings (a repeated parameter).
  B.query = function (params) {
    var parts = [];
    Object.keys(params).forEach(function (k) {
      [].concat(params[k]).forEach(function (v) {
        parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(v));
      });
    });
    return parts.join('&');
  };

  B.b64url = function (s) {
    var bytes = new TextEncoder().encode(s);
    var bin = '';
    bytes.forEach(function (b) { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  // narrow says whether the page is laid out for a phone.
  B.narrow = function () { return window.matchMedia('(max-width: 640px)').matches; };
})();
