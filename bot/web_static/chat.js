/* Grassroots web chat. Plain ES5 + fetch; no build step, no dependencies. */
(function () {
  'use strict';

  var S = {
    vi: {
      title: 'Grassroots — Phản ánh', log: 'Tin nhắn', chips: 'Lệnh nhanh',
      report: 'Phản ánh', my: 'Của tôi', help: 'Trợ giúp', lang: 'Ngôn ngữ', cancel: 'Hủy',
      send: 'Gửi', attach: 'Đính kèm tệp (ảnh, tài liệu, ghi âm)', location: 'Gửi vị trí hiện tại',
      inputLabel: 'Nội dung tin nhắn', placeholder: 'Nhập tin nhắn…',
      sending: 'Đang gửi…', loading: 'Đang tải…', failed: 'Không gửi được.', retry: 'Thử lại',
      notSent: 'Chưa gửi', loadFail: 'Không tải được cuộc trò chuyện.',
      serverErr: 'Máy chủ đang bận hoặc gặp sự cố.', tooBig: 'Tệp quá lớn, vui lòng chọn tệp nhỏ hơn.',
      over: ' — quá dài, hãy rút gọn', locating: 'Đang lấy vị trí…', myLoc: 'Vị trí của tôi',
      locDenied: 'Trang chưa được phép dùng vị trí. Bạn có thể bật quyền vị trí cho trang này trong trình duyệt, hoặc nhập địa chỉ bằng chữ.',
      locFail: 'Chưa xác định được vị trí. Vui lòng thử lại ở nơi thoáng hơn, hoặc nhập địa chỉ bằng chữ.'
    },
    en: {
      title: 'Grassroots — Reports', log: 'Messages', chips: 'Quick commands',
      report: 'Report', my: 'My reports', help: 'Help', lang: 'Language', cancel: 'Cancel',
      send: 'Send', attach: 'Attach a file (photo, document, voice)', location: 'Send my location',
      inputLabel: 'Message', placeholder: 'Type a message…',
      sending: 'Sending…', loading: 'Loading…', failed: 'Could not send.', retry: 'Retry',
      notSent: 'Not sent', loadFail: 'Could not load the conversation.',
      serverErr: 'The server is busy or having a problem.', tooBig: 'The file is too large, please choose a smaller one.',
      over: ' — too long, please shorten it', locating: 'Getting your location…', myLoc: 'My location',
      locDenied: 'This page is not allowed to use your location. You can allow it in the browser settings, or type the address instead.',
      locFail: 'Could not determine your location. Please try again, or type the address instead.'
    }
  };
  var WARN_AT = 3500, LIMIT = 4000, TIMEOUT_MS = 30000;
  // Polling: every 3 s while the live stream is down, every 60 s as a safety net while it is up.
  var TICK_MS = 3000, SAFETY_MS = 60000, RELISTEN_MS = 20000;

  function $(id) { return document.getElementById(id); }
  var list = $('messages'), input = $('input'), sendBtn = $('send'), attachBtn = $('attach'),
    fileIn = $('file'), locBtn = $('location'), status = $('status'), statusBar = $('statusbar'),
    retryBtn = $('retry'), count = $('count'), form = $('composer');
  var chips = document.querySelectorAll('.chip');

  var lang = 'vi', t = S.vi;
  var busy = false, loaded = false, locating = false;
  var failed = null;      // the last action that failed and can be retried with the same id
  var openPrompt = null;  // the token of the open prompt: its buttons, and only those, are live
  var retryFn = null;
  var seq = 0, polling = false, pollAgain = false, lastPoll = 0;
  var live = null, liveUp = false;

  /* ---------- small helpers ---------- */
  function get(k) { try { return localStorage.getItem(k); } catch (e) { return null; } }
  function put(k, v) {
    try { if (v == null) localStorage.removeItem(k); else localStorage.setItem(k, v); } catch (e) { /* private mode */ }
  }
  function each(sel, fn) { var n = document.querySelectorAll(sel); for (var i = 0; i < n.length; i++) fn(n[i]); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function uuid() {
    var c = window.crypto || window.msCrypto, b = new Uint8Array(16), h = '', i;
    if (c && c.randomUUID) { try { return c.randomUUID(); } catch (e) { /* insecure context */ } }
    if (c && c.getRandomValues) c.getRandomValues(b);
    else for (i = 0; i < 16; i++) b[i] = Math.random() * 256 | 0;
    b[6] = b[6] & 15 | 64; b[8] = b[8] & 63 | 128;
    for (i = 0; i < 16; i++) {
      h += (b[i] + 256).toString(16).slice(1);
      if (i === 3 || i === 5 || i === 7 || i === 9) h += '-';
    }
    return h;
  }

  /* fetch with a hard timeout; resolves {ok, status, data} (data null if not JSON), rejects on network error. */
  function api(url, body, timeout) {
    var ctrl = window.AbortController ? new AbortController() : null;
    var opts = { method: body ? 'POST' : 'GET', credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (ctrl) opts.signal = ctrl.signal;
    if (body && window.FormData && body instanceof FormData) opts.body = body;
    else if (body) { opts.body = JSON.stringify(body); opts.headers['Content-Type'] = 'application/json'; }
    return new Promise(function (resolve, reject) {
      var over = false;
      var timer = setTimeout(function () {
        if (ctrl) ctrl.abort();
        finish(reject, new Error('timeout'));
      }, timeout || TIMEOUT_MS);
      function finish(fn, v) { if (!over) { over = true; clearTimeout(timer); fn(v); } }
      fetch(url, opts).then(function (r) {
        return r.text().then(function (txt) {
          var d = null;
          try { d = JSON.parse(txt); } catch (e) { /* proxy error page etc. */ }
          if (d && typeof d !== 'object') d = null;
          finish(resolve, { ok: r.ok, status: r.status, data: d });
        });
      }).catch(function (e) { finish(reject, e); });
    });
  }

  /* ---------- UI state ---------- */
  function applyLang(l) {
    if (!S[l]) return;
    lang = l; t = S[l]; put('gr.lang', l);
    document.documentElement.lang = l;
    document.title = t.title;
    each('[data-t]', function (e) { e.textContent = t[e.getAttribute('data-t')]; });
    each('[data-t-aria]', function (e) {
      var s = t[e.getAttribute('data-t-aria')];
      e.setAttribute('aria-label', s);
      if (e.tagName === 'BUTTON') e.title = s;
    });
    input.placeholder = t.placeholder;
    onInput();
  }

  function say(text, kind, onRetry) {
    status.textContent = text || '';
    statusBar.className = text ? (kind || 'info') : '';
    retryFn = onRetry || null;
    retryBtn.hidden = !onRetry;
  }

  function setBusy(b) {
    busy = b;
    sendBtn.disabled = attachBtn.disabled = locBtn.disabled = b;
    for (var i = 0; i < chips.length; i++) chips[i].disabled = b;
    document.body.className = b ? 'busy' : '';
  }

  function setGroup(g, on) {
    var bs = g.getElementsByTagName('button');
    for (var i = 0; i < bs.length; i++) bs[i].disabled = !on;
  }

  function toBottom() { list.scrollTop = list.scrollHeight; }

  /* Links: http(s) only (never javascript: or data:), opened in a new tab without a referrer. */
  var URL_RE = /\bhttps?:\/\/[^\s<>"']+/gi;
  function linkify(node, text) {
    var last = 0, m, url, a;
    URL_RE.lastIndex = 0;
    while ((m = URL_RE.exec(text))) {
      url = m[0].replace(/[.,;:!?)\]]+$/, '');     // sentence punctuation is not part of it
      if (m.index > last) node.appendChild(document.createTextNode(text.slice(last, m.index)));
      a = el('a', '', url);
      a.href = url; a.target = '_blank'; a.rel = 'noopener noreferrer';
      node.appendChild(a);
      last = m.index + url.length;
      URL_RE.lastIndex = last;
    }
    if (last < text.length) node.appendChild(document.createTextNode(text.slice(last)));
    return node;
  }

  /* A button goes stale when the server says so: a prompt's buttons when another prompt is
     open, a card's when a newer version of that card arrives. Case, poll and other buttons stay
     usable after a typed reply (the server refuses an outdated one with a clear answer). */
  function usable(g) {
    if (g.getAttribute('data-stale')) return false;
    var p = g.getAttribute('data-prompt');
    return p === null || openPrompt === null || p === openPrompt;
  }

  function freshen() { each('.choices', function (g) { setGroup(g, usable(g)); }); }

  function supersede(g, m) {
    each('.choices[data-card]', function (old) {
      if (old.getAttribute('data-card') === m.card && +old.getAttribute('data-version') < m.version) {
        old.setAttribute('data-stale', '1');
      }
    });
    g.setAttribute('data-card', m.card);
    g.setAttribute('data-version', String(m.version));
  }

  /* Append a message; `m` is what the server sent ({text, choices, prompt, card, version}). */
  function addMsg(from, text, choices, m) {
    var box = el('div', 'msg ' + from);
    if (text) {
      box.appendChild(from.indexOf('bot') === 0 ? linkify(el('div', 'bubble'), text) : el('div', 'bubble', text));
    }
    if (from === 'bot' && choices && choices.length) {
      var g = el('div', 'choices');
      for (var i = 0; i < choices.length; i++) g.appendChild(choiceBtn(choices[i], g));
      if (m && typeof m.prompt === 'string') g.setAttribute('data-prompt', m.prompt);
      else if (m && typeof m.card === 'string' && typeof m.version === 'number') supersede(g, m);
      box.appendChild(g);
    }
    list.appendChild(box);
    freshen();
    toBottom();
    return box;
  }

  function choiceBtn(c, g) {
    var label = c.label != null ? String(c.label) : String(c.data);
    var b = el('button', '', label);
    b.type = 'button';
    b.onclick = function () {
      if (busy || b.disabled) return;
      start({ body: { callback: c.data }, echo: label, group: g });
    };
    return b;
  }

  function mark(a, state) {
    if (!a.el) return;
    a.el.className = 'msg user' + (state ? ' ' + state : '');
    if (state === 'failed') a.el.setAttribute('data-note', t.notSent);
    else a.el.removeAttribute('data-note');
  }

  function showReply(d) {
    if (d.lang) applyLang(d.lang);
    var ms = d.messages || [];
    if (typeof d.prompt === 'string') openPrompt = d.prompt;
    for (var i = 0; i < ms.length; i++) addMsg('bot', ms[i].text, ms[i].choices, ms[i]);
    freshen();
  }

  /* Put the user's words back into the box so nothing typed is ever lost. */
  function restoreText(a) {
    if (a.text && !input.value) { input.value = a.text; onInput(); }
  }

  /* ---------- sending ---------- */
  function key(a) {
    return a.file ? 'f:' + a.file.name + ':' + a.file.size + ':' + a.file.lastModified : JSON.stringify(a.body);
  }

  /* Start a user action. The same content as the failed action reuses its id (server dedupes). */
  function start(s) {
    if (busy) return false;
    var a = s;
    if (failed && key(failed) === key(s)) a = failed;
    else {
      if (failed) put('gr.pending', null);   // superseded; its bubble stays marked "not sent"
      a.id = uuid();
      if (a.echo) a.el = addMsg('user', a.echo);
    }
    failed = null;
    run(a);
    return true;
  }

  function run(a) {
    var req;
    setBusy(true);
    say(t.sending, 'busy');
    mark(a, 'pending');
    if (a.group) setGroup(a.group, false);
    if (a.file) {
      var fd = new FormData();
      fd.append('id', a.id);
      fd.append('file', a.file, a.file.name);
      // 30 s, plus time for the bytes at ~20 KB/s so photos can get through on slow 3G.
      req = api('api/chat/upload', fd, TIMEOUT_MS + a.file.size / 20);
    } else {
      put('gr.pending', JSON.stringify({ id: a.id, body: a.body, echo: a.echo, text: a.text }));
      var b = { id: a.id };
      for (var k in a.body) if (a.body.hasOwnProperty(k)) b[k] = a.body[k];
      req = api('api/chat/send', b);
    }
    req.then(function (r) {
      setBusy(false);
      var d = r.data;
      if (r.ok && d) {
        finish(a, '');
        say('');
        showReply(d);
        freshen();
        poll();
        listen();
        return;
      }
      var msg = (d && d.error) || (r.status === 413 ? t.tooBig : r.status >= 500 ? t.serverErr : t.failed);
      if (r.status !== 413 && (!d || r.status >= 500 || r.status === 408 || r.status === 429)) {
        fail(a, msg);
      } else {               // refused by the server (4xx): show why, keep the text for editing
        finish(a, 'failed');
        say('');
        addMsg('bot error', msg);
        restoreText(a);
      }
    }, function () {
      setBusy(false);
      fail(a, t.failed);
    });
  }

  function finish(a, state) {
    put('gr.pending', null);
    mark(a, state);
    if (!state && a.text && input.value === a.text) { input.value = ''; onInput(); }
  }

  function fail(a, msg) {
    failed = a;
    mark(a, 'failed');
    if (a.group) freshen();
    restoreText(a);
    say(msg, 'error', function () { if (failed === a) start(a); });
  }

  function sendText() {
    var v = input.value.replace(/^\s+|\s+$/g, '');
    if (!v || busy) return;
    if (start({ body: { text: v }, echo: v, text: v })) {
      input.value = '';
      onInput();
    }
  }

  /* ---------- proactive updates: a live stream, polling when it fails ---------- */
  /* Messages carry their seq: whatever the stream and the polls both bring is shown once. */
  function take(ms) {
    ms.sort(function (x, y) { return x.seq - y.seq; });
    for (var i = 0; i < ms.length; i++) {
      if (typeof ms[i].seq === 'number' && ms[i].seq > seq) {
        seq = ms[i].seq;
        addMsg('bot', ms[i].text, ms[i].choices, ms[i]);
      }
    }
    put('gr.seq', String(seq));
  }

  function poll() {
    if (!loaded) return;
    if (polling) { pollAgain = true; return; }
    polling = true; pollAgain = false; lastPoll = Date.now();
    api('api/chat/updates?after=' + seq).then(function (r) {
      take((r.ok && r.data && r.data.messages) || []);
    }, function () { /* offline: try again next tick */ }).then(function () {
      polling = false;
      if (pollAgain) poll();
    });
  }

  /* Server-Sent Events. The browser reconnects by itself and says the last seq it got
     (Last-Event-ID); while the stream is down the page polls every few seconds. */
  function listen() {
    if (!window.EventSource || live || !loaded) return;
    live = new EventSource('api/chat/live?after=' + seq);
    live.onopen = function () { liveUp = true; poll(); };  // anything sent while it was down
    live.onmessage = function (e) {
      var m = null;
      try { m = JSON.parse(e.data); } catch (x) { /* not ours */ }
      if (m && typeof m === 'object') take([m]);
    };
    live.onerror = function () {
      liveUp = false;
      if (live && live.readyState === 2) {   // closed for good: poll, and try again later
        live.close(); live = null;
        setTimeout(listen, RELISTEN_MS);
      }
    };
  }

  /* ---------- history / startup ---------- */
  function load() {
    setBusy(true);
    say(t.loading, 'busy');
    api('api/chat/history').then(function (r) {
      var d = r.data;
      if (!r.ok || !d) { say((d && d.error) || t.loadFail, 'error', load); return; }
      list.textContent = '';
      if (typeof d.prompt === 'string') openPrompt = d.prompt;
      if (d.lang) applyLang(d.lang);
      var ms = d.messages || [], lastUser = null, i;
      for (i = 0; i < ms.length; i++) {
        var from = ms[i].from === 'user' ? 'user' : 'bot';
        addMsg(from, ms[i].text, ms[i].choices, ms[i]);
        if (from === 'user') lastUser = ms[i].text;
      }
      if (typeof d.seq === 'number') seq = d.seq;
      else if (!ms.length) seq = 0;           // new session: old counters do not apply
      put('gr.seq', String(seq));
      loaded = true;
      setBusy(false);
      say('');

      var p = null;
      try { p = JSON.parse(get('gr.pending')); } catch (e) { /* ignore */ }
      if (p && p.id && p.body) {
        if (p.echo && p.echo === lastUser) {  // it did reach the server before the reload
          put('gr.pending', null);
          if (input.value === p.text) { input.value = ''; onInput(); }
        } else {
          if (p.echo) p.el = addMsg('user', p.echo);
          if (!ms.length && !p.echo) { failed = p; start(p); }  // interrupted auto /start: same id
          else fail(p, t.failed);
        }
      }
      if (!ms.length && !failed && !busy) start({ body: { text: '/start' } });
      else poll();
      listen();
      toBottom();
    }, function () {
      say(t.loadFail, 'error', load);
    });
  }

  /* ---------- input box ---------- */
  function onInput() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 160) + 'px';
    var n = input.value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '_').length;
    count.hidden = n <= WARN_AT;
    count.className = n > LIMIT ? 'over' : '';
    count.textContent = n + ' / ' + LIMIT + (n > LIMIT ? t.over : '');
    put('gr.draft', input.value || null);
  }

  var coarse = !!(window.matchMedia && window.matchMedia('(pointer: coarse)').matches);
  input.addEventListener('input', onInput);
  input.addEventListener('keydown', function (e) {
    if ((e.key === 'Enter' || e.keyCode === 13) && !e.shiftKey && !coarse && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      sendText();
    }
  });
  form.addEventListener('submit', function (e) { e.preventDefault(); sendText(); });
  // Keep the keyboard/focus in the text box when the send button is pressed.
  sendBtn.addEventListener('mousedown', function (e) { e.preventDefault(); });
  retryBtn.addEventListener('click', function () { if (retryFn && (!busy || !loaded)) retryFn(); });

  for (var c = 0; c < chips.length; c++) {
    chips[c].addEventListener('click', function () {
      var cmd = this.getAttribute('data-cmd');
      start({ body: { text: cmd }, echo: cmd });
    });
  }

  attachBtn.addEventListener('click', function () { if (!busy) fileIn.click(); });
  fileIn.addEventListener('change', function () {
    var f = fileIn.files && fileIn.files[0];
    fileIn.value = '';
    if (f) start({ file: f, echo: '📎 ' + f.name });
  });

  /* ---------- location ---------- */
  if (navigator.geolocation && window.isSecureContext !== false) locBtn.hidden = false;
  function locate(high) {
    navigator.geolocation.getCurrentPosition(function (p) {
      locating = false;
      setBusy(false);
      say('');
      var la = p.coords.latitude, lo = p.coords.longitude;
      start({
        body: { location: { latitude: la, longitude: lo } },
        echo: '📍 ' + t.myLoc + ': ' + la.toFixed(5) + ', ' + lo.toFixed(5)
      });
    }, function (e) {
      if (high && e.code === 3) { locate(false); return; }  // GPS too slow: try network location
      locating = false;
      setBusy(false);
      say(e.code === 1 ? t.locDenied : t.locFail, 'info');
    }, high ? { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
            : { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 });
  }
  locBtn.addEventListener('click', function () {
    if (busy || locating) return;
    locating = true;
    setBusy(true);
    say(t.locating, 'busy');
    locate(true);
  });

  /* ---------- polling and resizing ---------- */
  setInterval(function () {
    if (document.visibilityState === 'hidden') return;
    if (!liveUp || Date.now() - lastPoll > SAFETY_MS) poll();
  }, TICK_MS);
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') poll();
  });
  window.addEventListener('online', poll);
  window.addEventListener('resize', function () { if (document.activeElement === input) toBottom(); });

  /* ---------- go ---------- */
  seq = parseInt(get('gr.seq'), 10) || 0;
  input.value = get('gr.draft') || '';
  applyLang(get('gr.lang') || 'vi');
  load();
})();
