/* kolokol call tracking: shows each visitor of the clinic's site the tracking numbers kolokol leases to
   them. <script src="https://clinic.example/kk/t/v1/snippet.js" data-site="clinic-main" async></script>
   README, "The website snippet", says what it sends and how to configure it. */
(function () {
  "use strict";
  var w = window, d = document;
  if (w.kolokol) return; // included twice: the first copy does the work

  var SEP = "[\\s\\u00a0\\u2009\\u202f().\\u2010-\\u2015\\u2212-]";
  var RUN = new RegExp("\\+?\\d(?:" + SEP + "{0,3}\\d)*", "g");
  // Subtrees never changed, and elements a number may run through (any other element ends a number).
  var SKIP = /^(script|style|noscript|textarea|select|option|input|template|iframe|object|canvas)$/i;
  var INLINE = /^(a|abbr|b|bdi|bdo|big|cite|code|data|del|dfn|em|font|i|ins|kbd|label|mark|nobr|q|s|samp|small|span|strong|sub|sup|time|tt|u|var)$/i;
  var TEL = 'a[href^="tel:" i],a[href^="callto:" i]';
  // What else shows a number: a link's address, and what tooltips and screen readers say.
  var ATTRS = ["href", "title", "aria-label"];
  var LABELLED = TEL + ",[title],[aria-label]";
  // Attributes, not isContentEditable: that one makes Chromium compute the whole page's style first.
  var EDITABLE = '[contenteditable]:not([contenteditable="false"])';
  var NOSWAP = "script,style,noscript,textarea,select,option,template,iframe,object,canvas,[data-kolokol-noswap]," + EDITABLE;
  var COOKIE = "kolokol_session";

  var script = d.currentScript || d.querySelector("script[data-site][src*='snippet.js']");
  var site = script && script.getAttribute("data-site");
  var base = script && script.src.split(/[?#]/)[0].replace(/[^/]*$/, "");
  var consent = !!script && script.getAttribute("data-consent") != "false" && w.kolokolConsent !== false;

  var table = []; // [{f: digits as a page may write them, to: the digits to write instead}], longest first
  var shown = {}; // replaced number -> shown number, as kolokol answered
  var texts = new Map(); // text node -> [its text before us, the text we wrote]
  var attrs = {}; // attribute -> Map(element -> [its value before us, the value we wrote])
  ATTRS.forEach(function (name) { attrs[name] = new Map(); });
  var watched = [d.documentElement]; // the document, and shadow roots the page handed to kolokol.swap
  var session = null, heartbeat = 30, timer = 0, due = false, generation = 0;
  var observer = w.MutationObserver && new MutationObserver(function (records) { run(records, []); });

  // -- numbers: how a page may write one, and what to write instead -----------------------------------

  function ccLength(t) {
    // ITU country codes: 1 and 7 are one digit, these two, all others three.
    return /^[17]/.test(t) ? 1 : /^(2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58])/.test(t) ? 2 : 3;
  }

  function trunk(t) {
    return /^(7|375)/.test(t) ? "8" : t[0] == "1" ? "1" : "0";
  }

  // The spellings of a number's digits: international, with the trunk prefix (8 495…), national.
  function spellings(t) {
    var national = t.slice(ccLength(t));
    return [t, trunk(t) + national, national];
  }

  function tableOf(numbers) {
    var list = [], map = {}, from, to, i, mine, theirs;
    for (from in numbers) {
      to = numbers[from];
      if (!/^\+\d{7,15}$/.test(from) || typeof to != "string" || !/^\+\d{7,15}$/.test(to)) continue;
      map[from] = to;
      from = from.slice(1);
      to = to.slice(1);
      mine = spellings(from);
      // A number of another country is written whole whatever the page's spelling.
      theirs = to.indexOf(from.slice(0, ccLength(from))) == 0 ? spellings(to) : [to, to, to];
      for (i = 0; i < 3; i++) if (mine[i].length > 5) list.push({ f: mine[i], to: theirs[i] });
    }
    list.sort(function (a, b) { return b.f.length - a.f.length; });
    return { list: list, map: map };
  }

  // Where the digits of table numbers are in text s: [[their positions], the digits to put there].
  // A number starts and ends at a group boundary: "8 495 111-00-01 (24/7)" holds one, "184951110001" none.
  function find(s, list) {
    var out = [], m, digits, at, i, j, k, e, f;
    RUN.lastIndex = 0;
    while ((m = RUN.exec(s))) {
      digits = "";
      at = [];
      for (j = 0; j < m[0].length; j++) {
        if (m[0][j] >= "0" && m[0][j] <= "9") {
          digits += m[0][j];
          at.push(m.index + j);
        }
      }
      for (i = 0; i < digits.length;) {
        for (k = 0; k < list.length; k++) {
          f = list[k].f;
          e = i + f.length;
          if (digits.substr(i, f.length) == f && (e == digits.length || at[e] - at[e - 1] > 1)) break;
        }
        if (k < list.length) {
          out.push([at.slice(i, e), list[k].to]);
          i = e;
        } else {
          do i++; while (i < digits.length && at[i] - at[i - 1] == 1);
        }
      }
    }
    return out;
  }

  // The new digits go where the old ones were, so the page's spaces, brackets and dashes stay; a number
  // of another length puts its extra digits after the last one or drops the old ones left over.
  function put(match, set) {
    var at = match[0], to = match[1], j;
    for (j = 0; j < at.length; j++) set(at[j], j == at.length - 1 ? to.slice(j) : to.charAt(j));
  }

  function swapped(s, list) {
    var chars;
    find(s, list).forEach(function (match) {
      chars = chars || s.split("");
      put(match, function (p, c) { chars[p] = c; });
    });
    return chars ? chars.join("") : s;
  }

  // -- the page ---------------------------------------------------------------------------------------

  function blocked(el) {
    return !!el.closest(NOSWAP);
  }

  // The text of el's subtree as one string (a number may be split over several elements), "|" where an
  // element that is not inline breaks it, and which text node each part comes from.
  function collect(el, seg) {
    for (var n = el.firstChild; n; n = n.nextSibling) {
      if (n.nodeType == 3) {
        seg.nodes.push(n);
        seg.starts.push(seg.s.length);
        seg.s += n.data;
      } else if (n.nodeType == 1) {
        var inline = INLINE.test(n.nodeName);
        if (!inline) seg.s += "|";
        if (!SKIP.test(n.nodeName) && !n.hasAttribute("data-kolokol-noswap") && !n.matches(EDITABLE)) collect(n, seg);
        if (!inline) seg.s += "|";
      }
    }
  }

  function remember(store, node, before, after) {
    var old = store.get(node);
    store.set(node, [old && old[1] == before ? old[0] : before, after]);
    if (store.size > 1000) {
      store.forEach(function (v, n) { if (!n.isConnected) store.delete(n); });
    }
  }

  // root: an element, or a shadow root the page handed to kolokol.swap.
  function scan(root) {
    if (!table.length || !root || (root.nodeType != 1 && root.nodeType != 11) || (root.closest && blocked(root))) return;
    var seg = { s: "", nodes: [], starts: [] }, buffers = {}, k = 0;
    collect(root, seg);
    find(seg.s, table).forEach(function (match) {
      put(match, function (p, c) {
        while (k + 1 < seg.starts.length && seg.starts[k + 1] <= p) k++;
        (buffers[k] = buffers[k] || seg.nodes[k].data.split(""))[p - seg.starts[k]] = c;
      });
    });
    Object.keys(buffers).forEach(function (i) {
      var node = seg.nodes[i], text = buffers[i].join("");
      if (text != node.data) {
        remember(texts, node, node.data, text);
        node.data = text;
      }
    });
    var labelled = [].slice.call(root.querySelectorAll(LABELLED));
    if (root.matches && root.matches(LABELLED)) labelled.push(root);
    labelled.forEach(function (el) {
      ATTRS.forEach(function (name) {
        var value = el.getAttribute(name), to = value && swapped(value, table);
        if (to != value && (name != "href" || el.matches(TEL)) && !blocked(el)) {
          remember(attrs[name], el, value, to);
          el.setAttribute(name, to);
        }
      });
    });
  }

  // Numbers rendered late: each added or changed node is scanned with its neighbours up to the first
  // element that is not inline (a number split over spans is whole there). Our own writes are dropped.
  function run(records, roots) {
    records = records.concat(observer ? observer.takeRecords() : []);
    records.forEach(function (r) {
      var t = r.type == "characterData" ? r.target.parentNode : r.target;
      if (r.type == "childList") {
        for (var i = 0; i < r.addedNodes.length; i++) {
          var n = r.addedNodes[i];
          if (n.nodeType == 1 && !INLINE.test(n.nodeName)) roots.push(n);
          else t && roots.push(t);
        }
      } else if (t) roots.push(t);
    });
    roots = roots.map(function (t) {
      if (t && t.nodeType == 3) t = t.parentNode;
      while (t && t.parentNode && t.parentNode.nodeType == 1 && INLINE.test(t.nodeName)) t = t.parentNode;
      return t;
    });
    if (roots.length > 200) roots = [d.documentElement];
    roots.forEach(function (t, i) {
      if (t && t.isConnected && roots.indexOf(t) == i && !roots.some(function (o) { return o != t && o && o.contains(t); })) scan(t);
    });
    if (observer) observer.takeRecords();
  }

  function watch(root) {
    if (observer) observer.observe(root, { childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ATTRS });
  }

  function restore() {
    texts.forEach(function (v, node) { if (node.data == v[1]) node.data = v[0]; });
    texts.clear();
    ATTRS.forEach(function (name) {
      attrs[name].forEach(function (v, el) { if (el.getAttribute(name) == v[1]) el.setAttribute(name, v[0]); });
      attrs[name].clear();
    });
  }

  function show(numbers, error, always) {
    var next = tableOf(numbers && typeof numbers == "object" ? numbers : {});
    var changed = JSON.stringify(next.map) != JSON.stringify(shown);
    if (changed) {
      if (observer) observer.disconnect();
      restore();
      if (observer) observer.takeRecords();
      table = next.list;
      shown = next.map;
      if (table.length) {
        watched.forEach(function (root) {
          scan(root);
          watch(root);
        });
      }
    }
    if (changed || always) {
      d.dispatchEvent(new CustomEvent("kolokol", { detail: { numbers: numbersNow(), error: error || null } }));
    }
  }

  function numbersNow() {
    return JSON.parse(JSON.stringify(shown));
  }

  // -- kolokol ----------------------------------------------------------------------------------------

  // Cookies may be out of reach (a sandboxed frame): then there are none.
  function cookie(name) {
    try {
      var m = d.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]{1,200})"));
      return m ? decodeURIComponent(m[1]) : null;
    } catch (e) {
      return null;
    }
  }

  function keep(id) {
    try {
      d.cookie = COOKIE + "=" + (id ? encodeURIComponent(id) + "; max-age=86400" : "; max-age=0") +
        "; path=/; SameSite=Lax" + (location.protocol == "https:" ? "; Secure" : "");
    } catch (e) {}
  }

  // A text/plain body needs no CORS preflight; no cookies go to kolokol. Never longer than 3 s.
  function post(path, body) {
    var abort = w.AbortController && new AbortController(), late = false;
    var timeout = setTimeout(function () {
      late = true;
      if (abort) abort.abort();
    }, 3000);
    return fetch(base + path, {
      method: "POST", body: JSON.stringify(body), credentials: "omit", cache: "no-store",
      signal: abort ? abort.signal : undefined
    }).then(function (r) {
      return r.json().then(null, function () { return {}; }).then(function (j) {
        if (late) throw 0;
        return { status: r.status, json: j || {}, error: r.ok ? null : "http " + r.status };
      });
    }).then(null, function () {
      return { status: 0, json: {}, error: late ? "timeout" : "unreachable" };
    }).then(function (answer) {
      clearTimeout(timeout);
      return answer;
    });
  }

  function open() {
    var mine = ++generation, id = consent ? cookie(COOKIE) : null;
    clearTimeout(timer);
    session = null;
    post("session", {
      site: site, session: id, url: location.href, referrer: d.referrer || null,
      ga: consent ? cookie("_ga") : null, ym: consent ? cookie("_ym_uid") : null, consent: consent
    }).then(function (answer) {
      if (mine != generation) return;
      var j = answer.json;
      if (answer.status != 200) return show({}, answer.error, true);
      session = typeof j.session == "string" && j.session ? j.session : null;
      if (consent && session) keep(session);
      every(j);
      show(j.numbers, null, true);
      // A lease lives briefly until its first heartbeat (bots never send one): confirm it soon.
      if (session) later(Math.min(10, heartbeat));
    });
  }

  function every(answer) {
    heartbeat = Math.min(Math.max(+answer.heartbeat_seconds || 30, 5), 3600);
  }

  function later(seconds) {
    clearTimeout(timer);
    timer = setTimeout(beat, seconds * 1000);
  }

  // Only a page someone looks at keeps its numbers; a hidden one beats again when it is shown.
  function beat() {
    if (d.hidden) return (due = true);
    due = false;
    var mine = generation;
    post("heartbeat", { site: site, session: session }).then(function (answer) {
      if (mine != generation) return;
      if (answer.status == 404 && answer.json.error == "no-such-session") {
        keep(null);
        return open();
      }
      if (answer.status == 200) {
        every(answer.json);
        show(answer.json.numbers);
      }
      later(heartbeat);
    });
  }

  w.kolokol = {
    // Scan again (a view the page re-rendered); a shadow root is scanned and watched from then on.
    swap: function (node) {
      node = node || d.documentElement;
      if (node.nodeType == 11 && watched.indexOf(node) < 0) {
        watched.push(node);
        if (table.length) watch(node);
      }
      run([], [node]);
    },
    // The visitor's choice: false drops the stored session id and shows only source-level numbers.
    consent: function (given) {
      given = given !== false;
      if (given == consent || !site) return;
      consent = given;
      if (!given) keep(null);
      open();
    },
    numbers: numbersNow,
    // text with the numbers swapped as the page's would be: numbers {"+74951110001": "+74951110023"}
    format: function (text, numbers) {
      return swapped(String(text), tableOf(numbers || shown).list);
    }
  };

  if (!site || !w.fetch) return;
  if (!consent) keep(null);
  d.addEventListener("visibilitychange", function () {
    if (!d.hidden && due && session) beat();
  });
  open();
})();
