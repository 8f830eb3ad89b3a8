// The dashboard calendar's progressive enhancement. Everything it offers also works without
// it, through links and forms; with it:
//   - a booking dragged to another time or staff member is moved through the same route as the
//     booking page's move form (the server checks it; refused, the card goes back and says why);
//   - a click on empty working time opens the phone-booking form at the time clicked;
//   - other people's changes appear as they happen, from the GraphQL bookingEvents
//     subscription (graphql-transport-ws over a websocket, signed in with the session cookie).
(function () {
  'use strict';
  if (!document.getElementById('time-grid')) return;

  var grid = function () { return document.getElementById('time-grid'); };
  var drag = null;        // the drag under way
  var moving = false;     // a move sent, not yet answered
  var refreshing = false; // the grid is being fetched again
  var stale = false;      // something changed while the grid could not be refreshed
  var swallowClick = false;

  function say(text, isError) {
    var el = document.querySelector('[data-testid="grid-message"]');
    if (!el) return;
    el.setAttribute('role', isError ? 'alert' : 'status');
    el.textContent = text || '';
    el.hidden = !text;
  }

  function clock(m) {
    var h = Math.floor(m / 60), mm = m % 60;
    return (h < 10 ? '0' : '') + h + ':' + (mm < 10 ? '0' : '') + mm;
  }

  // minuteAt is the wall-clock minute of the grid row at clientY in a column's body.
  function minuteAt(body, clientY) {
    var g = grid(), rect = body.getBoundingClientRect();
    var rows = parseInt(getComputedStyle(g).getPropertyValue('--rows'), 10);
    var step = parseInt(g.dataset.step, 10), from = parseInt(g.dataset.from, 10);
    var row = Math.floor((clientY - rect.top) / (rect.height / rows));
    return from + Math.max(0, Math.min(rows - 1, row)) * step;
  }

  function rowHeight(body) {
    var rows = parseInt(getComputedStyle(grid()).getPropertyValue('--rows'), 10);
    return body.getBoundingClientRect().height / rows;
  }

  // refresh fetches this page again and swaps in its grid and side panel.
  function refresh() {
    if (drag || moving || refreshing) { stale = true; return Promise.resolve(); }
    refreshing = true;
    stale = false;
    return fetch(location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('.tg-wrap');
        var old = document.querySelector('.tg-wrap');
        if (fresh && old && !drag) old.replaceWith(fresh); else if (drag) stale = true;
      })
      .catch(function () { /* the next event or reload shows the change */ })
      .then(function () { refreshing = false; if (stale) refresh(); });
  }

  // Empty working time: the phone-booking form at the time clicked (rounded down to 15 min).
  document.addEventListener('click', function (e) {
    if (swallowClick) { swallowClick = false; e.preventDefault(); return; }
    var a = e.target.closest && e.target.closest('a.tg-work');
    if (!a || e.detail === 0 || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    var m = minuteAt(a.parentNode, e.clientY);
    var u = new URL(a.href, location.href);
    u.searchParams.set('time', clock(m - m % 15));
    e.preventDefault();
    location.assign(u.toString());
  }, true);

  // Cards are links (to the side panel): no native link drag, ours instead.
  document.addEventListener('dragstart', function (e) {
    if (e.target.closest && e.target.closest('.tg-booking')) e.preventDefault();
  });

  document.addEventListener('pointerdown', function (e) {
    var card = e.target.closest && e.target.closest('.tg-booking[data-open]');
    if (!card || e.button !== 0 || moving) return;
    drag = { card: card, x: e.clientX, y: e.clientY, moved: false, pointer: e.pointerId };
  });

  document.addEventListener('pointermove', function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 6) return;
    if (!drag.moved) {
      drag.moved = true;
      drag.card.classList.add('dragging');
      try { drag.card.setPointerCapture(drag.pointer); } catch (_) { /* not all pointers */ }
    }
    drag.card.style.transform = 'translate(' + dx + 'px, ' + dy + 'px)';
    e.preventDefault();
  });

  function snapBack(card, message) {
    card.classList.remove('dragging');
    card.style.transform = '';
    if (message) say(message, true);
    if (stale) refresh();
  }

  document.addEventListener('pointercancel', function () {
    if (drag) { var d = drag; drag = null; snapBack(d.card, ''); }
  });

  document.addEventListener('pointerup', function (e) {
    if (!drag) return;
    var d = drag, card = d.card;
    drag = null;
    if (!d.moved) return; // a click: it opens the side panel
    swallowClick = true;
    setTimeout(function () { swallowClick = false; }, 0);
    // The column under the pointer (the card itself is hidden from the hit test).
    card.style.visibility = 'hidden';
    var under = document.elementFromPoint(e.clientX, e.clientY);
    card.style.visibility = '';
    var col = under && under.closest('.tg-col');
    if (!col) { snapBack(card, ''); return; }
    var body = col.querySelector('.tg-body');
    var top = card.getBoundingClientRect().top; // where the card's top edge was dropped
    var minute = minuteAt(body, top + rowHeight(body) / 2);
    var from = card.closest('.tg-col');
    var staff = grid().dataset.view === 'day' ? col.dataset.staff : card.dataset.staff;
    if (col === from && minute === parseInt(card.dataset.start, 10)) { snapBack(card, ''); return; }
    moving = true;
    say('Moving…', false);
    var form = new URLSearchParams({ date: col.dataset.date, time: clock(minute), staff: staff });
    fetch(grid().dataset.moveUrl + card.dataset.id + '/move', {
      method: 'POST', credentials: 'same-origin', body: form,
      headers: { Accept: 'application/json' }
    }).then(function (r) {
      return r.json().catch(function () { return { message: 'Not moved: something went wrong on our side. Try again.' }; })
        .then(function (a) { return { ok: r.ok && a.ok, answer: a }; });
    }, function () {
      return { ok: false, answer: { message: 'Not moved: the server could not be reached.' } };
    }).then(function (res) {
      moving = false;
      if (!res.ok) { snapBack(card, res.answer.message); return; }
      say(res.answer.message, false);
      card.classList.remove('dragging');
      refresh();
    });
  });

  // Live updates: every booking event of this business refreshes the grid.
  function live(delay) {
    if (!('WebSocket' in window)) return;
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + grid().dataset.graphql,
      'graphql-transport-ws');
    ws.onopen = function () { ws.send(JSON.stringify({ type: 'connection_init' })); };
    ws.onmessage = function (ev) {
      var m;
      try { m = JSON.parse(ev.data); } catch (_) { return; }
      if (m.type === 'connection_ack') {
        delay = 1000;
        ws.send(JSON.stringify({ id: 'calendar', type: 'subscribe',
          payload: { query: 'subscription { bookingEvents { id type } }' } }));
        document.documentElement.dataset.live = 'on';
      } else if (m.type === 'next') {
        refresh();
      } else if (m.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      }
    };
    ws.onclose = function (ev) {
      document.documentElement.dataset.live = 'off';
      // 44xx: refused (signed out, a bad message): asking again would be refused again.
      if (ev.code >= 4400 && ev.code < 4500) return;
      setTimeout(function () { live(Math.min(delay * 2, 30000)); }, delay);
    };
  }
  live(1000);
})();
